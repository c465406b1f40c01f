// The six access-token calls of the official client in one realistic flow,
// through datovcr (proxy or replay). Prints one JSON document with the result
// of every step, so that a recording run and a replay run can be compared;
// exits 1 with a message on stderr on anything unexpected.
//
//   DATOVCR_BASE_URL=http://127.0.0.1:8787 DATOVCR_API_TOKEN=… node flow.mjs
//
// Optional: DATOVCR_ROLE_ID (default 34) and DATOVCR_OTHER_ROLE_ID (35), the
// roles the new token gets; DATOVCR_DESTINATION_USER_TYPE (account) and
// DATOVCR_DESTINATION_USER_ID (7865), the new owner of what it owned.
// Token secrets print as "[HIDDEN]" unless DATOVCR_SHOW_TOKENS=1. Against the
// real API it creates, renames, rotates and deletes one token of its own.

import { check, client as buildClient, clientVersion, env, expectApiError, fail, main } from './lib.mjs';

const roleId = env('DATOVCR_ROLE_ID', '34');
const otherRoleId = env('DATOVCR_OTHER_ROLE_ID', '35');
const destination = {
  destination_user_type: env('DATOVCR_DESTINATION_USER_TYPE', 'account'),
  destination_user_id: env('DATOVCR_DESTINATION_USER_ID', '7865'),
};
const name = 'datovcr official-client flow';

main(async () => {
  const client = buildClient();
  const steps = [];
  const step = async (label, call) => {
    let result;
    try {
      result = await call();
    } catch (error) {
      // expectApiError and check() exit on their own; anything else lands here.
      throw new Error(`step ${steps.length + 1} (${label}) failed`, {
        cause: error,
      });
    }
    steps.push({ step: label, result });
    return result;
  };

  const before = await step('list', () => client.accessTokens.list());
  check(Array.isArray(before), 'list returns an array');

  const created = await step('create', () =>
    client.accessTokens.create({
      name,
      can_access_cda: true,
      can_access_cda_preview: false,
      can_access_cma: true,
      role: { type: 'role', id: roleId },
    }),
  );
  check(created.type === 'access_token', `create returns an access_token: ${JSON.stringify(created)}`);
  check(typeof created.id === 'string' && created.id !== '', 'create returns an id');
  check(created.name === name, `create keeps the name: ${created.name}`);
  check(created.role?.id === roleId, `create sets the role: ${JSON.stringify(created.role)}`);
  check(
    !before.some((token) => token.id === created.id),
    `the new id ${created.id} was not in the first list`,
  );

  const found = await step('find', () => client.accessTokens.find(created.id));
  check(found.id === created.id && found.name === name, `find returns the new token: ${JSON.stringify(found)}`);

  const renamed = `${name} (renamed)`;
  const updatedWithRole = await step('update with relationships', () =>
    client.accessTokens.update(created.id, {
      name: renamed,
      can_access_cda: true,
      can_access_cda_preview: true,
      can_access_cma: false,
      role: { type: 'role', id: otherRoleId },
    }),
  );
  check(updatedWithRole.name === renamed, 'update renames');
  check(updatedWithRole.can_access_cma === false, 'update changes the flags');
  check(updatedWithRole.role?.id === otherRoleId, `update moves the role: ${JSON.stringify(updatedWithRole.role)}`);

  const updatedWithoutRole = await step('update without relationships', () =>
    client.accessTokens.update(created.id, {
      name: renamed,
      can_access_cda: false,
      can_access_cda_preview: true,
      can_access_cma: true,
    }),
  );
  check(updatedWithoutRole.can_access_cda === false, 'the second update changes the flags');
  check(
    updatedWithoutRole.role?.id === otherRoleId,
    `an update without relationships keeps the role: ${JSON.stringify(updatedWithoutRole.role)}`,
  );

  const regenerated = await step('regenerateToken', () => client.accessTokens.regenerateToken(created.id));
  check(regenerated.id === created.id, 'regenerateToken returns the same token');
  check(regenerated.role?.id === otherRoleId, 'regenerateToken keeps the role');
  // The secret itself cannot be compared here: replay serves "[REDACTED]" for both.
  check('token' in regenerated, 'regenerateToken returns the token attribute');

  const after = await step('list again', () => client.accessTokens.list());
  check(
    after.some((token) => token.id === created.id && token.name === renamed),
    'the second list holds the renamed token',
  );
  check(after.length === before.length + 1, `the list grew by one: ${before.length} -> ${after.length}`);

  const destroyed = await step('destroy', () => client.accessTokens.destroy(created.id, destination));
  check(destroyed.id === created.id, `destroy returns the deleted token: ${JSON.stringify(destroyed)}`);

  await step('find destroyed', () =>
    expectApiError('find on the destroyed token', () => client.accessTokens.find(created.id), 404, 'NOT_FOUND'),
  );

  if (steps.length !== 9) {
    fail(`expected 9 steps, ran ${steps.length}`);
  }
  return { client: '@datocms/cma-client-node', client_version: clientVersion, steps };
});
