// Shared by flow.mjs and enforce.mjs: configuration from the environment,
// the official client pointed at datovcr, and failure reporting.

import { createRequire } from 'node:module';
import { ApiError, buildClient } from '@datocms/cma-client-node';

export { ApiError };

const require = createRequire(import.meta.url);

/** The installed version of the official client, e.g. "5.5.3". */
export const clientVersion = require('@datocms/cma-client-node/package.json').version;

/**
 * The installed version of `@datocms/cma-client`, whose generated endpoint
 * code the Node client re-exports (and whose version its user agent names).
 */
export const coreVersion = require('@datocms/cma-client/package.json').version;

/** `name` from the environment, or `fallback`; fails when required and unset. */
export function env(name, fallback) {
  const value = process.env[name];
  if (value !== undefined && value !== '') {
    return value;
  }
  if (fallback === undefined) {
    fail(`${name} is not set`);
  }
  return fallback;
}

/**
 * The official client, configured by:
 * - DATOVCR_BASE_URL (required): datovcr's address, e.g. http://127.0.0.1:8787
 *   (a path such as http://127.0.0.1:8787/proxy-prefix/ needs --path-prefix);
 * - DATOVCR_API_TOKEN (required): the bearer; the proxy passes it through;
 * - DATOVCR_REQUEST_TIMEOUT_MS (default 10000).
 * autoRetry is off, so a 429, a transient error or a timeout fails at once.
 */
export function client() {
  return buildClient({
    apiToken: env('DATOVCR_API_TOKEN'),
    baseUrl: env('DATOVCR_BASE_URL'),
    autoRetry: false,
    requestTimeout: Number(env('DATOVCR_REQUEST_TIMEOUT_MS', '10000')),
  });
}

/** Stops the script: one line on stderr, exit status 1. */
export function fail(message) {
  process.stderr.write(`${process.argv[1]}: ${message}\n`);
  process.exit(1);
}

/** Fails unless `condition` holds. */
export function check(condition, message) {
  if (!condition) {
    fail(`check failed: ${message}`);
  }
}

/**
 * Runs `call` (a function returning the client's promise) and expects an
 * ApiError with `status` carrying `code`. Returns what is comparable between
 * runs (no URL, no port): status, the error code and the parsed errors.
 */
export async function expectApiError(label, call, status, code) {
  let result;
  try {
    result = await call();
  } catch (error) {
    if (!(error instanceof ApiError)) {
      fail(`${label}: expected ApiError ${status} ${code}, got ${describe(error)}`);
    }
    check(
      error.response.status === status,
      `${label}: status ${error.response.status}, expected ${status}\n${error.message}`,
    );
    const found = error.findError(code);
    check(found, `${label}: findError('${code}') is falsy\n${error.message}`);
    return {
      error: error.name,
      status: error.response.status,
      code: found.attributes.code,
      errors: error.errors,
    };
  }
  return fail(
    `${label}: expected ApiError ${status} ${code}, but it succeeded: ${JSON.stringify(result)}`,
  );
}

/** Any error thrown by a step, in one readable line (plus the client's message). */
export function describe(error) {
  if (error instanceof ApiError) {
    return `ApiError ${error.response.status}: ${error.message}`;
  }
  let text = error?.stack || String(error);
  // fetch() hides the reason (ECONNREFUSED, …) in `cause`.
  if (error?.cause) {
    text += `\ncaused by: ${describe(error.cause)}`;
  }
  return text;
}

const placeholders = new Set(['[REDACTED]', '[HIDDEN]']);

/**
 * Replaces every access token's secret in `value` by "[HIDDEN]", so that the
 * output of a run against the real API can be kept. datovcr's "[REDACTED]"
 * and `null` are left as they are, so replayed output is unchanged.
 */
export function hideTokens(value) {
  if (Array.isArray(value)) {
    return value.map(hideTokens);
  }
  if (value === null || typeof value !== 'object') {
    return value;
  }
  const copy = Object.fromEntries(Object.entries(value).map(([key, item]) => [key, hideTokens(item)]));
  if (copy.type === 'access_token' && typeof copy.token === 'string' && !placeholders.has(copy.token)) {
    copy.token = '[HIDDEN]';
  }
  return copy;
}

/**
 * Runs the script body and prints the document it returns, with token
 * secrets hidden unless DATOVCR_SHOW_TOKENS=1; any unexpected throw becomes
 * a clear failure.
 */
export function main(body) {
  body().then(
    (document) => {
      const shown = env('DATOVCR_SHOW_TOKENS', '0') === '1' ? document : hideTokens(document);
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    },
    (error) => fail(`unexpected failure: ${describe(error)}`),
  );
}

/**
 * The steps of a flow: `step(label, call)` awaits `call()`, records
 * `{step: label, result}` in `steps` (`undefined` results print as absent) and
 * returns the result; a throw becomes "step N (label) failed" with the cause.
 */
export function stepper() {
  const steps = [];
  const step = async (label, call) => {
    let result;
    try {
      result = await call();
    } catch (error) {
      // check() and expectApiError exit on their own; anything else lands here.
      throw new Error(`step ${steps.length + 1} (${label}) failed`, { cause: error });
    }
    steps.push({ step: label, result });
    return result;
  };
  return { steps, step };
}
