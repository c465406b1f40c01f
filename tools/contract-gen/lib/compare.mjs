// How the two sources compare: the evidence behind "which source is
// authoritative for what" in docs/contract.md. Written next to the
// generator as comparison.json and checked for drift like the schemas.

/** `/items/{itemId}/publish` -> `/items/{}/publish`. */
const shape = (path) => path.replace(/\{[^}]*\}/g, '{}');

export function compare({ endpoints, links, disagreements, examples }) {
  const linkKey = (l) => `${l.method} ${l.template}`;
  const byKey = new Map(links.map((l) => [linkKey(l), l]));
  const endpointKeys = new Set(endpoints.map((e) => `${e.method} ${shape(e.path)}`));

  const matched = [];
  const missing = [];
  const moved = [];
  for (const endpoint of endpoints) {
    const link = byKey.get(`${endpoint.method} ${shape(endpoint.path)}`);
    if (link) {
      matched.push(endpoint.id);
      continue;
    }
    // Same resource and rel in 2022 under another path: the path moved.
    const before = links.find(
      (l) => l.resource === endpoint.resource && l.rel === endpoint.rel && !endpointKeys.has(linkKey(l)),
    );
    if (before) {
      moved.push({ id: endpoint.id, now: `${endpoint.method} ${endpoint.path}`, in_2022: `${before.method} ${before.template}` });
    } else {
      missing.push(`${endpoint.id} (${endpoint.method} ${endpoint.path})`);
    }
  }
  const movedFrom = new Set(moved.map((m) => m.in_2022));
  const onlyIn2022 = links
    .filter((l) => !endpointKeys.has(linkKey(l)) && !movedFrom.has(linkKey(l)))
    .map((l) => `${l.resource}.${l.rel} (${l.method} ${l.template}${l.private ? ', private' : ''})`);

  const counts = {};
  for (const d of disagreements) counts[d.kind] = (counts[d.kind] ?? 0) + 1;

  return {
    endpoints_5_8_1: endpoints.length,
    links_2022: links.length,
    links_2022_private: links.filter((l) => l.private).length,
    same_method_and_path: matched.length,
    moved,
    missing_from_2022: missing,
    only_in_2022: onlyIn2022,
    shape_differences: {
      $comment:
        'Where a generated definition and its 2022 counterpart differ, walked property by property: added = only 5.8.1 has it, removed = only 2022 has it, type / enum = they disagree. The 5.8.1 shape stands in every case.',
      counts,
      list: disagreements.map((d) => `${d.definition}${d.pointer}: ${d.kind} ${d.detail}`),
    },
    examples_2022: {
      $comment: '2022 `example` values kept as `examples` (they validate against the 5.8.1 shape) and rejected (they do not).',
      kept: examples.kept.length,
      rejected: examples.rejected.map((r) => `${r.name}${r.pointer}: ${r.error}`),
    },
  };
}
