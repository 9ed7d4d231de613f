/**
 * Turns the raw inputs into one typed, validated Config. Every input is checked before any request is
 * sent, and all mistakes are reported together; each message names the input, repeats the bad value
 * (never a secret) and shows an accepted one.
 */
import { InputError, InputErrors } from '../../core/errors.js';
import { isLoopbackHost } from '../../core/http.js';
import { isKeyHandle } from '../../core/key-handle.js';
import {
  booleanInput,
  collecting,
  durationInput,
  type KeyRequest,
  type ReadInput,
  readKeyRequestFields,
  slotWithoutPr,
} from '../../core/key-request.js';

export const MODES = ['mint', 'use', 'revoke', 'sweep'] as const;
export type Mode = (typeof MODES)[number];

/** The whole step must end well within GitHub's own job limit (6 h). */
export const MAX_TIMEOUT_MS = 6 * 3_600_000;
/**
 * Below this a step cannot wait out one slow answer and still keep time to clean up: a create may take
 * seconds, and a fifth of the step is held back for deleting what a failed step made.
 */
export const MIN_TIMEOUT_MS = 10_000;

/** Everything the action was asked to do, typed and validated. */
export interface Config extends KeyRequest {
  /** Empty when broker-url is set: the broker holds the admin key. */
  adminKey: string;
  verify: boolean;
  exportEnv: string | undefined;
  apiUrl: string;
  /** The key broker to ask instead of Venice (no admin key in GitHub), or empty. */
  brokerUrl: string;
  brokerAudience: string;
  timeoutMs: number;
  failOnCleanupError: boolean;
  mode: Mode;
  keyHandle: string;
  rotate: boolean;
  dryRun: boolean;
  githubToken: string;
}

// Variables a step must not overwrite: the runner's own, and ones that change how later steps run.
const RESERVED_ENV = /^(GITHUB_|RUNNER_|ACTIONS_)|^(NODE_OPTIONS|PATH|HOME|CI)$/i;

export function readConfig(read: ReadInput): Config {
  const errors: InputError[] = [];
  const field = collecting(read, errors);
  const brokerUrl = field('broker-url', (raw) =>
    raw === '' ? '' : parseUrl('broker-url', raw, 'e.g. "https://venice-broker.example.com"'),
  );
  const config: Config = {
    ...readKeyRequestFields(field),
    // With a broker, the admin key stays with the broker: none is needed (or wanted) here.
    adminKey: brokerUrl === '' ? field('admin-key', parseAdminKey) : '',
    verify: field('verify', (raw) => booleanInput('verify', raw)),
    exportEnv: field('export-env', parseExportEnv),
    apiUrl: field('api-url', (raw) => parseUrl('api-url', raw, 'e.g. "https://api.venice.ai/api/v1"')),
    brokerUrl,
    brokerAudience: field('broker-audience', parseBrokerAudience),
    timeoutMs: field('timeout', parseTimeout),
    failOnCleanupError: field('fail-on-cleanup-error', (raw) => booleanInput('fail-on-cleanup-error', raw)),
    mode: field('mode', parseMode),
    keyHandle: field('key-handle', parseKeyHandle),
    rotate: field('rotate', (raw) => booleanInput('rotate', raw)),
    dryRun: field('dry-run', (raw) => booleanInput('dry-run', raw)),
    githubToken: field('github-token', (raw) => raw),
  };
  if (errors.length === 0) errors.push(...combinationErrors(config));
  if (errors.length > 0) throw new InputErrors(errors);
  return config;
}

/** Inputs that are fine alone but not together. */
function combinationErrors(config: Config): InputError[] {
  const errors: InputError[] = [];
  if (config.brokerUrl !== '' && config.brokerAudience === '') {
    errors.push(
      new InputError(
        'broker-audience',
        "is empty, and broker-url needs it: set the audience your broker's config names, e.g. `broker-audience: venice-key-broker`.",
      ),
    );
  }
  if (config.mode === 'use' && config.keyHandle === '') {
    errors.push(
      new InputError(
        'key-handle',
        "is empty, and mode use needs it: pass the minting job's output, e.g. `key-handle: ${{ needs.mint.outputs.key-handle }}`.",
      ),
    );
  }
  if (config.keyHandle !== '' && config.mode !== 'use' && config.mode !== 'revoke') {
    errors.push(new InputError('key-handle', `is only for mode use or revoke, not mode ${config.mode}; e.g. \`mode: use\`.`));
  }
  if (config.rotate && (config.mode !== 'mint' || config.scope !== 'pr')) {
    errors.push(new InputError('rotate', 'is only for preview keys: set `scope: pr` (with mode mint), or leave rotate at "false".'));
  }
  if (config.slot !== '' && config.scope !== 'pr') errors.push(slotWithoutPr(config.scope));
  return errors;
}

function parseAdminKey(raw: string): string {
  if (raw === '') {
    throw new InputError(
      'admin-key',
      'is empty. Pass your Venice admin key from a secret, e.g. `admin-key: ${{ secrets.VENICE_ADMIN_KEY }}`. ' +
        'If you did, the likely causes: the secret name is misspelt (an unknown secret is empty, not an error); ' +
        'it is an environment secret and the job has no `environment:` naming that environment; ' +
        'the run comes from a fork or Dependabot, which get no secrets; or you meant to use a key broker and `broker-url` is missing.',
    );
  }
  if (/\s/.test(raw)) {
    throw new InputError('admin-key', 'contains white space inside it; check that the secret holds exactly one Venice admin key.');
  }
  return raw;
}

function parseTimeout(raw: string): number {
  const ms = durationInput('timeout', raw, '5m', MAX_TIMEOUT_MS, '6h');
  if (ms < MIN_TIMEOUT_MS) {
    throw new InputError('timeout', `"${raw}" is too short: at least 10s is needed to wait for Venice and still clean up; e.g. "5m".`);
  }
  return ms;
}

function parseKeyHandle(raw: string): string {
  if (raw !== '' && !isKeyHandle(raw)) {
    throw new InputError(
      'key-handle',
      'is not a key handle from this action (they start with "vek1."); pass the minting job\'s `key-handle` output unchanged.',
    );
  }
  return raw;
}

function parseMode(raw: string): Mode {
  const mode = raw.toLowerCase() as Mode;
  if (!MODES.includes(mode)) throw new InputError('mode', `"${raw}" is not one of ${MODES.join(', ')} (any case); e.g. "use".`);
  return mode;
}

function parseExportEnv(raw: string): string | undefined {
  if (raw === '') return undefined;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(raw)) {
    throw new InputError('export-env', `"${raw}" is not an environment variable name; e.g. "VENICE_API_KEY".`);
  }
  if (RESERVED_ENV.test(raw)) {
    throw new InputError('export-env', `"${raw}" is reserved by the runner; choose another name, e.g. "VENICE_API_KEY".`);
  }
  return raw;
}

/** api-url and broker-url: https, or plain http only on loopback; no credentials, query or fragment. */
function parseUrl(name: string, raw: string, example: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InputError(name, `"${raw}" is not a URL; ${example}.`);
  }
  if (url.username || url.password) {
    throw new InputError(name, `must not carry credentials in the URL (${url.host}); ${example}.`);
  }
  if (url.search || url.hash) {
    throw new InputError(name, `"${raw}" must not have a query or fragment; ${example}.`);
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new InputError(
      name,
      `"${raw}" must use https: (plain http: is allowed only for loopback: 127.x.x.x, localhost and [::1]); ${example}.`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/** The audience is sent in a URL's query and compared by the broker: one plain word or URL, no spaces. */
function parseBrokerAudience(raw: string): string {
  if (raw !== '' && !/^[\x21-\x7e]{1,200}$/.test(raw)) {
    throw new InputError('broker-audience', `"${raw}" is not an audience: one word or URL without spaces; e.g. "venice-key-broker".`);
  }
  return raw;
}
