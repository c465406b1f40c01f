// The 2022 hyper-schema (draft-04): detail the 5.8.1 shapes lack, added only
// where the two agree.
//
// Each generated definition carries its place in the hyper-schema (its
// provenance: `definitions.<resource>.definitions.<name>` or
// `definitions.<resource>.links[rel].<schema|targetSchema|jobSchema|hrefSchema>`).
// The two schemas are walked side by side from there, property by property.
// Nothing is copied wholesale, so the draft-04 pitfalls of the file
// (`$schema` and `id` inside subschemas, `deprecated` as a string,
// `enumDescription`, `hideFromDocs`, `private`) never reach the output.
// What is taken, node by node:
//
// - `format` (all `date-time`), where 5.8.1 says string;
// - `integer`, where 5.8.1 says number (hyperschema-to-ts maps both to
//   `number`; JSON Schema keeps the difference);
// - `minItems`, where both say array;
// - `deprecated` (a message string there): `deprecated: true` here, the
//   message appended to the description;
// - `example`, as a candidate for `examples`: it is kept only if it
//   validates against the final 5.8.1-derived schema (see examples.mjs).
//
// Where they disagree (a property only one of them has, different types),
// the 5.8.1 shape stands and the difference is recorded.

import { snakeCase } from './endpoints.mjs';

export class HyperSchema {
  constructor(doc) {
    this.doc = doc;
  }

  /** The draft-04 node at a local `$ref` such as `#/definitions/item/...`. */
  pointer(ref) {
    if (!ref.startsWith('#/')) throw new Error(`hyper-schema: non-local $ref \`${ref}\``);
    let node = this.doc;
    for (const raw of ref.slice(2).split('/')) {
      const token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      node = node?.[token];
    }
    return node;
  }

  /** Follows `$ref` chains. */
  resolve(node) {
    let current = node;
    for (let hops = 0; current && typeof current === 'object' && current.$ref; hops++) {
      if (hops > 32) throw new Error(`hyper-schema: $ref loop at \`${node.$ref}\``);
      current = this.pointer(current.$ref);
    }
    return current;
  }

  /** The hyper-schema node a generated definition came from, or undefined. */
  locate(origin) {
    const definitions = this.doc.definitions;
    if (origin.resource === 'DatoApi') return definitions[origin.definition];
    const resource = definitions[snakeCase(origin.resource)];
    if (!resource) return undefined;
    if (origin.definition) return resource.definitions?.[origin.definition];
    if (!origin.rel) return undefined;
    return resource.links?.find((link) => link.rel === origin.rel)?.[origin.kind];
  }

  /** Links as `{resource, rel, method, href, template, private}`. */
  links() {
    const out = [];
    for (const [resource, definition] of Object.entries(this.doc.definitions)) {
      for (const link of definition.links ?? []) {
        out.push({
          resource,
          rel: link.rel,
          method: link.method.toUpperCase(),
          href: link.href,
          template: link.href.replace(/\{[^}]*\}/g, '{}'),
          private: link.private === true,
          hasJobSchema: Boolean(link.jobSchema),
          hasHrefSchema: Boolean(link.hrefSchema),
        });
      }
    }
    return out;
  }
}

function jsonTypes(node) {
  if (!node || typeof node !== 'object') return null;
  const type = node.type;
  if (typeof type === 'string') return new Set([type]);
  if (Array.isArray(type)) return new Set(type);
  return null;
}

const same = (a, b) => a.size === b.size && [...a].every((item) => b.has(item));

/**
 * Walks a generated definition beside its hyper-schema node, adding the
 * detail listed above. Returns `{candidates, disagreements}`: example
 * candidates as `{pointer, value}` (pointer relative to the definition) and
 * differences as `{pointer, kind, detail}`.
 */
export function enrich(hyper, definition, origin) {
  const candidates = [];
  const disagreements = [];
  const walk = (ts, hsRaw, pointer) => {
    const hs = hyper.resolve(hsRaw);
    if (!ts || typeof ts !== 'object' || !hs || typeof hs !== 'object') return;
    // A reference is another definition, enriched from its own provenance.
    if (ts.$ref) return;
    const tsTypes = jsonTypes(ts);
    const hsTypes = jsonTypes(hs);
    if (tsTypes && hsTypes) {
      const tsBare = new Set([...tsTypes].filter((t) => t !== 'null'));
      const hsBare = new Set(
        [...hsTypes].filter((t) => t !== 'null').map((t) => (t === 'integer' ? 'number' : t)),
      );
      if (!same(tsBare, hsBare)) {
        disagreements.push({ pointer, kind: 'type', detail: `5.8.1 ${[...tsTypes]} / 2022 ${[...hsTypes]}` });
        return;
      }
      if (tsTypes.has('number') && hsTypes.has('integer') && !hsTypes.has('number')) {
        ts.type = Array.isArray(ts.type)
          ? ts.type.map((t) => (t === 'number' ? 'integer' : t))
          : 'integer';
      }
      if (tsTypes.has('string') && typeof hs.format === 'string' && !ts.format) ts.format = hs.format;
      if (tsTypes.has('array') && Number.isInteger(hs.minItems) && ts.minItems === undefined) {
        ts.minItems = hs.minItems;
      }
    }
    if (Array.isArray(ts.enum) && Array.isArray(hs.enum)) {
      const bare = (values) => new Set(values.filter((v) => v !== null).map((v) => JSON.stringify(v)));
      if (!same(bare(ts.enum), bare(hs.enum))) {
        disagreements.push({ pointer, kind: 'enum', detail: `5.8.1 ${ts.enum.join('|')} / 2022 ${hs.enum.join('|')}` });
      }
    }
    if (hs.deprecated !== undefined && hs.deprecated !== false && ts.deprecated === undefined) {
      // draft-04 has no `deprecated`; the file uses it as a message. In
      // 2020-12 it is a boolean, so the message moves to the description.
      ts.deprecated = true;
      if (typeof hs.deprecated === 'string') {
        ts.description = [ts.description, `Deprecated: ${hs.deprecated}`].filter(Boolean).join('\n\n');
      }
    }
    if ('example' in hs) candidates.push({ pointer, value: hs.example });
    if (ts.properties && hs.properties) {
      const tsKeys = Object.keys(ts.properties);
      const hsKeys = Object.keys(hs.properties);
      for (const key of tsKeys) {
        if (key in hs.properties) {
          walk(ts.properties[key], hs.properties[key], `${pointer}/properties/${escape(key)}`);
        } else {
          disagreements.push({ pointer: `${pointer}/properties/${escape(key)}`, kind: 'added', detail: key });
        }
      }
      for (const key of hsKeys) {
        if (!(key in ts.properties)) {
          disagreements.push({ pointer: `${pointer}/properties/${escape(key)}`, kind: 'removed', detail: key });
        }
      }
    }
    if (ts.items && !Array.isArray(ts.items) && hs.items && !Array.isArray(hs.items)) {
      walk(ts.items, hs.items, `${pointer}/items`);
    }
  };
  walk(definition, hyper.locate(origin), '');
  return { candidates, disagreements };
}

function escape(token) {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
