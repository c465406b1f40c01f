// Requests that break the contract, for `datovcr proxy --enforce`: each must
// be stopped by the proxy (never reach DatoCMS) and come back as a 422 that
// the official client parses, `findError('DATOVCR_CONTRACT_VIOLATION')`.
// Prints one JSON document with the violations datovcr reported; exits 1 with
// a message on stderr on anything unexpected.
//
//   DATOVCR_BASE_URL=http://127.0.0.1:8787 DATOVCR_API_TOKEN=… node enforce.mjs

import { client as buildClient, clientVersion, check, env, expectApiError, main } from './lib.mjs';

const roleId = env('DATOVCR_ROLE_ID', '34');
const code = 'DATOVCR_CONTRACT_VIOLATION';

/** The `details.violations` of datovcr's error, reduced to pointer and rule. */
function violations(outcome) {
  const [error] = outcome.errors;
  const list = error?.attributes?.details?.violations;
  check(Array.isArray(list) && list.length > 0, `details.violations is a non-empty list: ${JSON.stringify(error)}`);
  return list;
}

main(async () => {
  const client = buildClient();
  const cases = [];

  // The typed create() serializes only known attributes, so a wrongly typed
  // flag goes out through rawCreate, which sends the JSON:API body as given.
  const wrongType = await expectApiError(
    'rawCreate with can_access_cma: "yes"',
    () =>
      client.accessTokens.rawCreate({
        data: {
          type: 'access_token',
          attributes: {
            name: 'datovcr enforce: wrong type',
            can_access_cda: true,
            can_access_cda_preview: false,
            can_access_cma: 'yes',
          },
          relationships: { role: { data: { type: 'role', id: roleId } } },
        },
      }),
    422,
    code,
  );
  cases.push({ case: 'rawCreate with a string flag', violations: violations(wrongType) });

  // A mistake the typed method lets through at run time: no role.
  const noRole = await expectApiError(
    'create without a role',
    () =>
      client.accessTokens.create({
        name: 'datovcr enforce: no role',
        can_access_cda: true,
        can_access_cda_preview: true,
        can_access_cma: false,
      }),
    422,
    code,
  );
  cases.push({ case: 'create without a role', violations: violations(noRole) });

  return { client: '@datocms/cma-client-node', client_version: clientVersion, cases };
});
