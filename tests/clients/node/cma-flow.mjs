// A broad flow over the Content Management API with the official client,
// through datovcr (proxy or replay): a model and two fields, records created,
// updated, published and listed page by page, an environment fork (a job the
// client polls to completion), a webhook with custom secret headers created
// and deleted, and a build trigger created, triggered and deleted. Prints one
// JSON document with the result of every step, so that a recording run and a
// replay run can be compared byte for byte; exits 1 with a message on stderr
// on anything unexpected.
//
//   DATOVCR_BASE_URL=http://127.0.0.1:8787 DATOVCR_API_TOKEN=… \
//   DATOVCR_WEBHOOK_HEADERS='{"Authorization":"Bearer …"}' \
//   DATOVCR_WEBHOOK_PASSWORD=… node cma-flow.mjs
//
// DATOVCR_WEBHOOK_HEADERS is a JSON object of the webhook's secret custom
// headers (an `X-Source` header that is not secret is added), and
// DATOVCR_WEBHOOK_PASSWORD its HTTP basic password. Secrets never print: the
// webhook's secret values and the build trigger's token (and its webhook
// URL, which holds it) print as "[HIDDEN]". Optional:
// DATOVCR_FLOW_NAME (default datovcr_flow), the model's api_key and the
// forked environment's name stem. Against a real project it leaves the model,
// its records and the forked environment behind: use a throwaway project.

import { check, client as buildClient, clientVersion, coreVersion, env, main, stepper } from './lib.mjs';

const secretHeaders = JSON.parse(env('DATOVCR_WEBHOOK_HEADERS'));
const webhookPassword = env('DATOVCR_WEBHOOK_PASSWORD');
const flowName = env('DATOVCR_FLOW_NAME', 'datovcr_flow');
/** Records created; listed `PER_PAGE` at a time, so over several pages. */
const RECORDS = 5;
const PER_PAGE = 2;
/** The one webhook header whose value is not secret, printed as is. */
const PUBLIC_HEADER = 'X-Source';

/** A secret value as the script prints it: whether it was there, never what. */
function hidden(value) {
  return value === null || value === undefined ? value : '[HIDDEN]';
}

/**
 * Checks that a secret came back as sent (through the proxy) or as datovcr's
 * placeholder (from a replayed cassette), and returns nothing of it.
 */
function checkSecret(label, value, sent) {
  check(
    value === sent || (typeof value === 'string' && value.includes('[REDACTED]')),
    `${label} came back neither as sent nor redacted`,
  );
}

function shownWebhook(webhook) {
  const headers = Object.fromEntries(
    Object.entries(webhook.headers).map(([name, value]) => [name, name === PUBLIC_HEADER ? value : hidden(value)]),
  );
  return { ...webhook, headers, http_basic_password: hidden(webhook.http_basic_password) };
}

function shownTrigger(trigger) {
  return { ...trigger, webhook_token: hidden(trigger.webhook_token), webhook_url: hidden(trigger.webhook_url) };
}

main(async () => {
  const client = buildClient();
  const { steps, step } = stepper();

  // A model and two fields (each field create is a job the client polls).
  const model = await step('create model', () =>
    client.itemTypes.create({
      name: 'datovcr flow post',
      api_key: flowName,
      draft_mode_active: true,
    }),
  );
  check(model.type === 'item_type' && model.api_key === flowName, `create model: ${JSON.stringify(model)}`);
  const title = await step('create field title', () =>
    client.fields.create(model.id, {
      label: 'Title',
      field_type: 'string',
      api_key: 'title',
      validators: { required: {} },
    }),
  );
  const body = await step('create field body', () =>
    client.fields.create(model.id, { label: 'Body', field_type: 'text', api_key: 'body' }),
  );
  check(title.type === 'field' && body.type === 'field', 'both field jobs returned fields');
  check(title.item_type.id === model.id, `the field belongs to the model: ${JSON.stringify(title.item_type)}`);
  const withFields = await step('find model', () => client.itemTypes.find(model.id));
  check(
    JSON.stringify(withFields.fields.map((field) => field.id)) === JSON.stringify([title.id, body.id]),
    `the model lists its two fields: ${JSON.stringify(withFields.fields)}`,
  );

  // Records: create, update, publish, then list them page by page.
  const created = [];
  for (let n = 1; n <= RECORDS; n += 1) {
    created.push(
      await step(`create record ${n}`, () =>
        client.items.create({
          item_type: { type: 'item_type', id: model.id },
          title: `Post ${n}`,
          body: `Body of post ${n}.`,
        }),
      ),
    );
  }
  check(
    created.every((record) => record.meta.status === 'draft'),
    'records of a draft-mode model start as drafts',
  );
  const [first] = created;
  const updated = await step('update record 1', () => client.items.update(first.id, { title: 'Post 1, revised' }));
  check(updated.title === 'Post 1, revised' && updated.body === first.body, 'update changes only the title');
  const published = await step('publish record 1', () => client.items.publish(first.id));
  check(published.meta.status === 'published', `publish: ${JSON.stringify(published.meta)}`);
  const listed = [];
  await step('list records', async () => {
    for await (const record of client.items.listPagedIterator({ filter: { type: flowName } }, { perPage: PER_PAGE })) {
      listed.push(record);
    }
    return listed;
  });
  check(
    JSON.stringify(listed.map((record) => record.id)) === JSON.stringify(created.map((record) => record.id)),
    `the paged list holds the ${RECORDS} records in order: ${listed.map((record) => record.id)}`,
  );
  check(listed[0].title === 'Post 1, revised' && listed[0].meta.status === 'published', 'the list sees the edit');

  // An environment fork: 202, then the job polled until its result.
  const sandbox = `${flowName.replaceAll('_', '-')}-sandbox`;
  const fork = await step('fork environment', () => client.environments.fork('main', { id: sandbox }));
  check(fork.type === 'environment' && fork.id === sandbox, `the job's result is the fork: ${JSON.stringify(fork)}`);
  check(fork.meta.forked_from === 'main' && fork.meta.primary === false, 'the fork is a sandbox of main');

  // A webhook with custom headers, all but one of them secret.
  const headers = { ...secretHeaders, [PUBLIC_HEADER]: 'datovcr cma-flow' };
  const webhook = await step('create webhook', async () => {
    const made = await client.webhooks.create({
      name: 'datovcr flow webhook',
      url: 'https://example.com/datovcr-flow-hook',
      headers,
      events: [{ entity_type: 'item', event_types: ['publish', 'unpublish'] }],
      custom_payload: null,
      http_basic_user: 'datovcr',
      http_basic_password: webhookPassword,
    });
    check(
      JSON.stringify(Object.keys(made.headers)) === JSON.stringify(Object.keys(headers)),
      `the webhook keeps its headers: ${Object.keys(made.headers)}`,
    );
    for (const [name, value] of Object.entries(secretHeaders)) {
      checkSecret(`the ${name} header`, made.headers[name], value);
    }
    checkSecret('the HTTP basic password', made.http_basic_password, webhookPassword);
    return shownWebhook(made);
  });
  check(webhook.headers[PUBLIC_HEADER] === headers[PUBLIC_HEADER], 'a header that is not secret comes back as sent');
  const deleted = await step('delete webhook', async () => shownWebhook(await client.webhooks.destroy(webhook.id)));
  check(deleted.id === webhook.id, 'destroy returns the deleted webhook');
  const webhooks = await step('list webhooks', async () => (await client.webhooks.list()).map(shownWebhook));
  check(!webhooks.some((hook) => hook.id === webhook.id), 'the deleted webhook is gone');

  // A build trigger: create, trigger (204, no body), see it pending, delete.
  const trigger = await step('create build trigger', async () =>
    shownTrigger(
      await client.buildTriggers.create({
        name: 'datovcr flow build',
        adapter: 'custom',
        adapter_settings: { trigger_url: 'https://example.com/datovcr-flow-build' },
        frontend_url: null,
        autotrigger_on_scheduled_publications: false,
        indexing_enabled: false,
      }),
    ),
  );
  const triggered = await step('trigger build', async () => (await client.buildTriggers.trigger(trigger.id)) ?? null);
  check(triggered === null, `a trigger answers no content: ${JSON.stringify(triggered)}`);
  const triggers = await step('list build triggers', async () => (await client.buildTriggers.list()).map(shownTrigger));
  const listedTrigger = triggers.find((candidate) => candidate.id === trigger.id);
  check(listedTrigger?.build_status === 'pending', `the triggered build is pending: ${JSON.stringify(listedTrigger)}`);
  await step('delete build trigger', async () => shownTrigger(await client.buildTriggers.destroy(trigger.id)));

  return { client: '@datocms/cma-client-node', client_version: clientVersion, core_version: coreVersion, steps };
});
