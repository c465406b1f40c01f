// The endpoint list: every endpoint of the client's resources.json (5.8.1),
// with its contract id, method, path template and the TypeScript type names
// that describe its request, query, responses and job result.

/** `fooBarBaz` / `FooBar` -> `foo_bar_baz` / `foo_bar`. */
export function snakeCase(name) {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * Reads resources.json into endpoint records, in the file's order.
 *
 * `exported` is the set of type names RawApiTypes.ts exports; every type
 * name an endpoint needs must be in it, or generation stops with the name.
 */
export function endpointsOf(resources, exported) {
  const endpoints = [];
  for (const resource of resources) {
    for (const raw of resource.endpoints) {
      endpoints.push(endpointOf(resource, raw, exported));
    }
  }
  return endpoints;
}

function endpointOf(resource, raw, exported) {
  // Two endpoints of 5.8.1 have no `name` (only `rawName`, e.g.
  // `rawReorderFieldsAndFieldsets`): the client's method name is the same
  // word without the `raw` prefix.
  const name = raw.name ?? lowerFirst(raw.rawName.replace(/^raw/, ''));
  const id = `${snakeCase(resource.namespace)}.${snakeCase(name)}`;
  const where = `${id} (${raw.method} ${raw.urlTemplate})`;
  const need = (typeName) => {
    if (!exported.has(typeName)) {
      throw new Error(`${where}: RawApiTypes.ts exports no type \`${typeName}\``);
    }
    return typeName;
  };

  const types = {};
  if (raw.requestBodyType) types.body = need(raw.requestBodyType);
  if (raw.queryParamsType) types.query = need(raw.queryParamsType);
  if (raw.responseType?.endsWith('JobSchema')) {
    // resources.json names the job's result as the response (the client
    // polls the job and returns its payload); the HTTP answer itself is the
    // link's targetSchema, `{data: job}`.
    types.job = need(raw.responseType);
    types.accepted = need(raw.responseType.replace(/JobSchema$/, 'TargetSchema'));
  } else if (raw.responseType) {
    types.response = need(raw.responseType);
  }

  return {
    id,
    namespace: resource.namespace,
    name,
    resource: resource.jsonApiType,
    resourceClass: resource.resourceClassName,
    rel: raw.rel,
    method: raw.method.toUpperCase(),
    path: raw.urlTemplate.replace(/\$\{([A-Za-z0-9_]+)\}/g, '{$1}'),
    placeholders: raw.urlPlaceholders.map((p) => p.variableName),
    entityPlaceholder: raw.entityIdPlaceholder ?? null,
    bodyOptional: Boolean(raw.optionalRequestBody),
    queryRequired: Boolean(raw.queryParamsRequired),
    deprecated: raw.deprecated ?? null,
    docUrl: raw.docUrl,
    types,
  };
}

function lowerFirst(text) {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * The 2xx statuses an endpoint answers with. resources.json and the
 * hyper-schema give no status codes; these follow the client (any 2xx is a
 * success, 202 means "poll the job", 204 has no body) and real traffic
 * (creates answer 201, job endpoints 202, triggers 204).
 */
export function successStatuses(endpoint) {
  const { types, rel } = endpoint;
  if (!types.response && !types.job) return [204];
  const statuses = rel === 'create' ? [200, 201] : [200];
  if (types.job) statuses.push(202);
  return statuses;
}

/** Every TypeScript type name the endpoints refer to. */
export function rootTypeNames(endpoints) {
  const names = new Set();
  for (const endpoint of endpoints) {
    for (const typeName of Object.values(endpoint.types)) names.add(typeName);
  }
  return [...names].sort();
}
