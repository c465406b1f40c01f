// RawApiTypes.ts -> JSON Schema definitions, through ts-json-schema-generator.
//
// The client's RawApiTypes.ts is hyperschema-to-ts output (a translation of
// the live hyper-schema) plus a few client-side refinements. The contract
// wants the translation, not the refinements, so after generation:
//
// - A type `X` for which the file also exports `XStableShell` is a client
//   refinement (`Field`, `FieldAttributes`, `FieldCreateSchema`,
//   `FieldUpdateSchema` in 5.8.1: per-field-type typings of validators and
//   appearance). `XStableShell` is the generator's own output; it takes the
//   name `X`.
// - Record types are generic over the project's models (`D extends
//   ItemTypeDefinition`). The contract does not know the models, so what
//   depends on them is widened: record attributes are any object (the
//   hyper-schema's `item.attributes` is an untyped object), `filter[fields]`
//   any object, `order_by` any string, and `__itemTypeId` (a type-level
//   marker that never goes over the wire) is dropped.
// - "This interface was referenced by `R`'s JSON-Schema via ..." sentences
//   become provenance (`hyperschema` on the definition) and leave the
//   description.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createGenerator } from 'ts-json-schema-generator';
import ts from 'typescript';

const require = createRequire(import.meta.url);

/** Absolute path of RawApiTypes.ts in the installed client. */
export function rawApiTypesPath() {
  const manifest = require.resolve('@datocms/cma-client/package.json');
  return path.join(path.dirname(manifest), 'src/generated/RawApiTypes.ts');
}

/** Names of the types RawApiTypes.ts exports (read with the TypeScript parser). */
export function exportedTypes(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const names = new Set();
  for (const statement of source.statements) {
    const exported = statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (
      exported &&
      (ts.isTypeAliasDeclaration(statement) || ts.isInterfaceDeclaration(statement))
    ) {
      names.add(statement.name.text);
    }
  }
  return names;
}

const ROOT_PREFIX = 'DatovcrRoot__';
const STABLE = 'StableShell';

/**
 * Generates one definition per root type name (plus everything they
 * reference), in draft-07 form with `#/definitions/` references.
 *
 * `buildDir` receives the entry file that names the roots; it must sit
 * below the folder whose node_modules holds the client, and belong to this
 * run alone.
 */
export function generateDefinitions({ roots, exported, buildDir }) {
  const shells = [...exported].filter((name) => name.endsWith(STABLE)).sort();
  const wanted = [...new Set([...roots, ...shells])].sort();
  mkdirSync(buildDir, { recursive: true });
  const entry = path.join(buildDir, 'entry.ts');
  // An alias per root instantiates the generic record types with their
  // defaults; ts-json-schema-generator cannot take a generic type as root.
  const lines = [
    "import type * as Raw from '@datocms/cma-client/src/generated/RawApiTypes.ts';",
    ...wanted.map((name) => `export type ${ROOT_PREFIX}${name} = Raw.${name};`),
  ];
  writeFileSync(entry, `${lines.join('\n')}\n`);

  const generator = createGenerator({
    path: entry,
    type: '*',
    expose: 'export',
    topRef: true,
    jsDoc: 'extended',
    skipTypeCheck: true,
    additionalProperties: false,
    sortProps: true,
  });
  const generated = generator.createSchema('*').definitions;
  const defs = {};
  for (const [name, schema] of Object.entries(generated)) defs[decodeURIComponent(name)] = schema;
  return normalize(defs, wanted, roots);
}

function normalize(defs, wanted, roots) {
  const renames = new Map();
  // Root aliases point at the real definition; an alias that was inlined
  // becomes the definition itself.
  for (const name of wanted) {
    const alias = `${ROOT_PREFIX}${name}`;
    const schema = defs[alias];
    if (!schema) throw new Error(`ts-json-schema-generator produced nothing for \`${name}\``);
    const target = refName(schema.$ref);
    delete defs[alias];
    if (target && target !== name) renames.set(target, name);
    else if (!target) defs[name] = schema;
  }
  // Default instantiations of generic types keep the plain name.
  for (const name of Object.keys(defs)) {
    const plain = name.replace(/<ItemTypeDefinition(,false)?>$/, '');
    if (plain !== name && !renames.has(name)) renames.set(name, plain);
  }
  // Client refinements give way to the generator's own output.
  for (const name of Object.keys(defs)) {
    if (name.endsWith(STABLE)) {
      const refined = name.slice(0, -STABLE.length);
      for (const [from, to] of renames) if (to === refined) renames.delete(from);
      delete defs[refined];
      renames.set(name, refined);
    }
  }
  let out = {};
  for (const [name, schema] of Object.entries(defs)) {
    const target = renames.get(name) ?? name;
    // `ItemTypeData` and `ItemTypeData<ItemTypeDefinition>` come out alike.
    if (out[target] && JSON.stringify(out[target]) !== JSON.stringify(schema)) {
      throw new Error(`two different definitions would be named \`${target}\``);
    }
    out[target] = schema;
  }
  out = mapRefs(out, (name) => renames.get(name) ?? name);
  widenModelDependent(out);
  for (const schema of Object.values(out)) dropProperty(schema, '__itemTypeId');
  const provenance = {};
  for (const [name, schema] of Object.entries(out)) {
    provenance[name] = takeProvenance(schema);
    // The widened record types stand for the hyper-schema's own
    // `item.attributes` (and the records' query); they live with `item`.
    const base = name.replace(/(InRequest|InNestedResponse)$/, '');
    if (base === 'ToItemAttributes') provenance[name] = [{ resource: 'Item', definition: 'attributes' }];
    else if (WIDENED[base]) provenance[name] = [{ resource: 'Item' }];
  }
  const reachable = reachableFrom(out, roots);
  const kept = {};
  for (const name of [...reachable].sort()) {
    if (/[<>%]|structure-/.test(name)) {
      throw new Error(`definition \`${name}\` has no stable name; add a rule for it`);
    }
    kept[name] = out[name];
  }
  return { defs: kept, provenance };
}

const WIDENED = {
  ToItemAttributes: {
    type: 'object',
    description:
      "The record's field values, keyed by field API key. Their shape depends on the project's models, which the contract does not know.",
  },
  ToItemHrefSchemaField: {
    type: 'object',
    description: "Filters on the record's fields; their names depend on the project's models.",
  },
  ToItemHrefSchemaOrderBy: {
    type: 'string',
    description: "`<field>_(ASC|DESC)` rules, comma separated; field names depend on the project's models.",
  },
};

function widenModelDependent(defs) {
  for (const name of Object.keys(defs)) {
    const base = name.replace(/<.*$/, '').replace(/(InRequest|InNestedResponse)$/, '');
    if (WIDENED[base]) defs[name] = structuredClone(WIDENED[base]);
  }
}

function refName(ref) {
  const prefix = '#/definitions/';
  return ref?.startsWith(prefix) ? decodeURIComponent(ref.slice(prefix.length)) : null;
}

/** Rewrites every `#/definitions/` reference through `rename`. */
function mapRefs(value, rename) {
  if (Array.isArray(value)) return value.map((item) => mapRefs(item, rename));
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    const target = key === '$ref' ? refName(item) : null;
    out[key] = target ? `#/definitions/${rename(target)}` : mapRefs(item, rename);
  }
  return out;
}

function dropProperty(schema, property) {
  if (Array.isArray(schema)) return schema.forEach((item) => dropProperty(item, property));
  if (schema === null || typeof schema !== 'object') return;
  if (schema.properties && typeof schema.properties === 'object') {
    delete schema.properties[property];
    if (Array.isArray(schema.required)) {
      schema.required = schema.required.filter((name) => name !== property);
    }
  }
  for (const item of Object.values(schema)) dropProperty(item, property);
}

const REFERENCED =
  /\s*This interface was referenced by `(\w+)`'s JSON-Schema\s+via the `(definition|patternProperty)` "([^"]+)"\.|\s*This interface was referenced by `(\w+)`'s JSON-Schema\s+via the `([\w-]+)\.(\w+)` link\./g;

/**
 * Removes the "referenced by" sentences from a definition's description and
 * returns them as `{resource, definition}` or `{resource, rel, kind}`.
 */
function takeProvenance(schema) {
  const found = [];
  if (typeof schema.description !== 'string') return found;
  const rest = schema.description.replace(REFERENCED, (_, res, via, key, lres, rel, kind) => {
    if (res) {
      if (via === 'definition') found.push({ resource: res, definition: key });
    } else {
      found.push({ resource: lres, rel, kind });
    }
    return '';
  });
  const trimmed = rest.trim();
  if (trimmed) schema.description = trimmed;
  else delete schema.description;
  return found;
}

function reachableFrom(defs, roots) {
  const seen = new Set();
  const visit = (value) => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (value === null || typeof value !== 'object') return;
    for (const [key, item] of Object.entries(value)) {
      const target = key === '$ref' ? refName(item) : null;
      if (target) {
        if (!defs[target]) throw new Error(`reference to missing definition \`${target}\``);
        if (!seen.has(target)) {
          seen.add(target);
          visit(defs[target]);
        }
      } else {
        visit(item);
      }
    }
  };
  for (const root of roots) {
    if (!defs[root]) throw new Error(`root type \`${root}\` was not generated`);
    seen.add(root);
    visit(defs[root]);
  }
  return seen;
}
