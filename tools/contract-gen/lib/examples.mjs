// The hyper-schema's `example` values become `examples` of the generated
// schema only when they validate against it: an example that contradicts
// the current (5.8.1) shape documents the old API, not this one.

import Ajv2020 from 'ajv/dist/2020.js';

/**
 * `documents` maps a file name to its schema document (with `$id`);
 * `candidates` are `{home, name, pointer, value}`. Adds every valid
 * candidate to its node and returns `{kept, rejected}` (the rejected ones
 * with the validator's first error).
 */
export function attachExamples(documents, candidates) {
  // Formats are annotations in the contract (jsonschema, like here, does
  // not assert them by default); strict mode would reject `$comment` texts.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: false });
  for (const document of Object.values(documents)) ajv.addSchema(document);
  const kept = [];
  const rejected = [];
  for (const candidate of candidates) {
    const document = documents[candidate.home];
    const ref = `${document.$id}#/$defs/${escape(candidate.name)}${candidate.pointer}`;
    const validate = ajv.compile({ $ref: ref });
    if (validate(candidate.value)) {
      const node = nodeAt(document.$defs[candidate.name], candidate.pointer);
      node.examples ??= [];
      if (!node.examples.some((e) => JSON.stringify(e) === JSON.stringify(candidate.value))) {
        node.examples.push(candidate.value);
      }
      kept.push(candidate);
    } else {
      const error = validate.errors?.[0];
      rejected.push({ ...candidate, error: `${error?.instancePath || '/'} ${error?.message}` });
    }
  }
  return { kept, rejected };
}

function nodeAt(root, pointer) {
  let node = root;
  for (const raw of pointer.split('/').slice(1)) {
    node = node[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

function escape(token) {
  return encodeURIComponent(token.replace(/~/g, '~0').replace(/\//g, '~1'));
}
