// Definitions -> JSON Schema 2020-12 files, one per JSON:API resource.
//
// Each file holds `$defs` only, named as in RawApiTypes.ts, and is
// registered under its `$id`, so `item.json#/$defs/ItemCreateSchema` means
// the same thing in the manifest, in a `$ref` and in a report.

import { snakeCase } from './endpoints.mjs';

export const BASE_URI = 'https://datovcr.invalid/schemas/cma/';
const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

/**
 * The file (without `.json`) a definition goes to: the resource its
 * provenance names, else the resource whose class name is the longest
 * prefix of the definition's name, else `common`.
 */
export function homeOf(name, origins, classNames) {
  const first = origins[0];
  if (first) return first.resource === 'DatoApi' ? first.definition : snakeCase(first.resource);
  let best = null;
  for (const className of classNames) {
    const rest = name.slice(className.length);
    const fits = name.startsWith(className) && (rest === '' || /^[A-Z]/.test(rest));
    if (fits && (!best || className.length > best.length)) best = className;
  }
  return best ? snakeCase(best) : 'common';
}

/** `{name: file}` for every definition. */
export function placeAll(defs, provenance, classNames) {
  const homes = {};
  for (const name of Object.keys(defs)) homes[name] = homeOf(name, provenance[name] ?? [], classNames);
  return homes;
}

/** The manifest-relative reference of a definition: `item.json#/$defs/Item`. */
export function refTo(name, homes) {
  return `${homes[name]}.json#/$defs/${name}`;
}

/**
 * Rewrites one draft-07 definition (as ts-json-schema-generator writes it)
 * into 2020-12: `#/definitions/X` references point into the right file,
 * tuple `items: [...]` become `prefixItems` and `additionalItems` `items`.
 */
export function to202012(schema, here, homes) {
  if (Array.isArray(schema)) return schema.map((item) => to202012(item, here, homes));
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/definitions/')) {
      const name = decodeURIComponent(value.slice('#/definitions/'.length));
      out.$ref = homes[name] === here ? `#/$defs/${name}` : refTo(name, homes);
    } else if (key === 'items' && Array.isArray(value)) {
      out.prefixItems = to202012(value, here, homes);
    } else if (key === 'additionalItems') {
      out.items = to202012(value, here, homes);
    } else if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, item]) => [name, to202012(item, here, homes)]),
      );
    } else {
      out[key] = to202012(value, here, homes);
    }
  }
  return out;
}

/** Groups converted definitions into files: `{file: schemaDocument}`. */
export function files(defs, provenance, homes, describe) {
  const grouped = {};
  for (const name of Object.keys(defs).sort()) {
    const home = homes[name];
    grouped[home] ??= {};
    const schema = to202012(defs[name], home, homes);
    const origins = (provenance[name] ?? []).filter((o) => o.definition || o.rel);
    if (origins.length) {
      schema.$comment = `hyper-schema: ${origins.map(originText).join(', ')}`;
    }
    grouped[home][name] = schema;
  }
  const out = {};
  for (const home of Object.keys(grouped).sort()) {
    out[home] = {
      $schema: DRAFT,
      $id: `${BASE_URI}${home}.json`,
      title: `${home} (generated)`,
      description: describe(home),
      $defs: grouped[home],
    };
  }
  return out;
}

function originText(origin) {
  if (origin.resource === 'DatoApi') return `definitions.${origin.definition}`;
  const resource = snakeCase(origin.resource);
  if (origin.definition) return `definitions.${resource}.definitions.${origin.definition}`;
  return `definitions.${resource}.links[rel=${origin.rel}].${origin.kind}`;
}
