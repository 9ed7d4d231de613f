/**
 * Turns the raw inputs into one typed, validated Config. Every input is checked before any request is
 * sent, and all mistakes are reported together; each message names the input, repeats the bad value
 * (never a secret) and shows an accepted one.
 */
import { parseDuration } from './duration.js';
import { InputError, InputErrors } from './errors.js';
import { isLoopbackHost } from './http.js';
import { isKeyHandle } from './key-handle.js';

export const LIMIT_PERIODS = ['EPOCH', 'MONTH', 'LIFETIME'] as const;
export const MODEL_PRIVACIES = ['ALL', 'PRIVATE_TEXT', 'PRIVATE_ONLY'] as const;
export const MODES = ['mint', 'use', 'revoke', 'sweep'] as const;
export const SCOPES = ['job', 'run', 'pr'] as const;
export type LimitPeriod = (typeof LIMIT_PERIODS)[number];
export type ModelPrivacy = (typeof MODEL_PRIVACIES)[number];
export type Mode = (typeof MODES)[number];
export type KeyScope = (typeof SCOPES)[number];

/** Venice's bounds for a consumption limit (see swagger.yaml, consumptionLimit). */
export const MAX_LIMIT = 9_999_999_999;
/** A key outliving a year is no longer "ephemeral"; Venice itself has no documented maximum. */
export const MAX_EXPIRES_IN_MS = 366 * 86_400_000;
/** The whole step must end well within GitHub's own job limit (6 h). */
export const MAX_TIMEOUT_MS = 6 * 3_600_000;
/**
 * Below this a step cannot wait out one slow answer and still keep time to clean up: a create may take
 * seconds, and a fifth of the step is held back for deleting what a failed step made.
 */
export const MIN_TIMEOUT_MS = 10_000;

/**
 * What one key should be. The broker accepts exactly these fields in a mint request, named as the
 * inputs, and parses them with the same functions, so the action and the broker cannot disagree.
 */
export interface KeyRequest {
  expiresInMs: number;
  usdLimit: number | null;
  diemLimit: number | null;
  limitPeriod: LimitPeriod;
  modelPrivacy: ModelPrivacy | undefined;
  label: string;
  skipDelete: boolean;
  scope: KeyScope;
  /** scope pr: the preview slot; empty means the job id (GITHUB_JOB), filled in by the step. */
  slot: string;
  /** From the pr-number input; the event's PR is read separately (run-context.ts). */
  prNumber: number | undefined;
}

/** The key request's fields with action.yml's defaults (a metadata test keeps the two equal). */
export const KEY_REQUEST_DEFAULTS = {
  'expires-in': '1h',
  'usd-limit': '1',
  'diem-limit': '1',
  'limit-period': 'EPOCH',
  'model-privacy': '',
  description: '',
  'skip-delete': 'false',
  scope: 'job',
  slot: '',
  'pr-number': '',
} as const;
export type KeyRequestField = keyof typeof KEY_REQUEST_DEFAULTS;

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

export type ReadInput = (name: string) => string;
type Field = <T>(name: string, parse: (raw: string) => T) => T;

// YAML 1.2 core schema spellings, the same set @actions/core's getBooleanInput accepts.
const TRUE_WORDS = new Set(['true', 'True', 'TRUE']);
const FALSE_WORDS = new Set(['false', 'False', 'FALSE']);
// Variables a step must not overwrite: the runner's own, and ones that change how later steps run.
const RESERVED_ENV = /^(GITHUB_|RUNNER_|ACTIONS_)|^(NODE_OPTIONS|PATH|HOME|CI)$/i;

/** A field reader that collects every InputError instead of stopping at the first. */
function collecting(read: ReadInput, errors: InputError[]): Field {
  return <T>(name: string, parse: (raw: string) => T): T => {
    try {
      return parse(read(name).trim());
    } catch (error) {
      if (error instanceof InputError) {
        errors.push(error);
        return undefined as T;
      }
      throw error;
    }
  };
}

function readKeyRequestFields(field: Field): KeyRequest {
  return {
    expiresInMs: field('expires-in', (raw) => durationInput('expires-in', raw, '1h', MAX_EXPIRES_IN_MS, '366d')),
    usdLimit: field('usd-limit', (raw) => limitInput('usd-limit', raw)),
    diemLimit: field('diem-limit', (raw) => limitInput('diem-limit', raw)),
    limitPeriod: field('limit-period', (raw) => enumInput('limit-period', raw, LIMIT_PERIODS, 'EPOCH')),
    modelPrivacy: field('model-privacy', (raw) =>
      raw === '' ? undefined : enumInput('model-privacy', raw, MODEL_PRIVACIES, 'PRIVATE_ONLY'),
    ),
    label: field('description', parseLabel),
    skipDelete: field('skip-delete', (raw) => booleanInput('skip-delete', raw)),
    scope: field('scope', (raw) => enumInput('scope', raw, SCOPES, 'run')),
    slot: field('slot', parseSlot),
    prNumber: field('pr-number', parsePrNumber),
  };
}

/**
 * A key request written back as the inputs write it: what the action sends the broker, and what the
 * broker answers it granted. readKeyRequest reads it back to the same values.
 */
export function keyRequestFields(request: KeyRequest): Record<KeyRequestField, string> {
  const limit = (value: number | null): string => (value === null ? 'unlimited' : String(value));
  return {
    'expires-in': `${Math.ceil(request.expiresInMs / 1000)}s`,
    'usd-limit': limit(request.usdLimit),
    'diem-limit': limit(request.diemLimit),
    'limit-period': request.limitPeriod,
    'model-privacy': request.modelPrivacy ?? '',
    description: request.label,
    'skip-delete': String(request.skipDelete),
    scope: request.scope,
    slot: request.slot,
    'pr-number': request.prNumber === undefined ? '' : String(request.prNumber),
  };
}

/** The broker's side: a mint request's fields (missing ones take action.yml's defaults), or every mistake in it. */
export function readKeyRequest(read: (name: KeyRequestField) => string): KeyRequest {
  const errors: InputError[] = [];
  const request = readKeyRequestFields(collecting(read as ReadInput, errors));
  if (errors.length === 0 && request.slot !== '' && request.scope !== 'pr') errors.push(slotWithoutPr(request.scope));
  if (errors.length > 0) throw new InputErrors(errors);
  return request;
}

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

function slotWithoutPr(scope: KeyScope): InputError {
  return new InputError('slot', `is only for preview keys (scope pr), not scope ${scope}; e.g. \`scope: pr\` with \`slot: web\`.`);
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
  if (config.brokerUrl !== '' && (config.mode === 'sweep' || (config.mode === 'revoke' && config.keyHandle === '') || config.rotate)) {
    const what = config.rotate ? 'rotate' : `mode ${config.mode}${config.mode === 'revoke' ? ' without key-handle' : ''}`;
    errors.push(
      new InputError(
        'broker-url',
        `is set, and ${what} is not available through the broker (it lists the account's keys, which only the admin key may do). ` +
          "Preview keys minted through the broker expire at their expires-in (capped by the broker's policy); use admin-key for rotate, PR revoke and sweep.",
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
        'If the secret is set, this run cannot see it: secrets are not passed to workflows triggered from forks or by Dependabot.',
    );
  }
  if (/\s/.test(raw)) {
    throw new InputError('admin-key', 'contains white space inside it; check that the secret holds exactly one Venice admin key.');
  }
  return raw;
}

function durationInput(name: string, raw: string, example: string, maxMs: number, maxText: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined) {
    throw new InputError(
      name,
      `"${raw}" is not a positive duration. Use whole numbers with units d, h, m, s in that order, e.g. "${example}", "90s", "2h30m" or "7d".`,
    );
  }
  if (ms > maxMs) throw new InputError(name, `"${raw}" is longer than the ${maxText} allowed; e.g. "${example}".`);
  return ms;
}

function limitInput(name: string, raw: string): number | null {
  if (raw.toLowerCase() === 'unlimited') return null;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value) || value > MAX_LIMIT) {
    throw new InputError(name, `"${raw}" is not a limit. Use a number from 0 to ${MAX_LIMIT}, e.g. "5" or "0.5", or "unlimited".`);
  }
  return value;
}

function enumInput<T extends string>(name: string, raw: string, allowed: readonly T[], example: T): T {
  const found = allowed.find((value) => value.toLowerCase() === raw.toLowerCase());
  if (found === undefined) {
    throw new InputError(name, `"${raw}" is not one of ${allowed.join(', ')} (any case); e.g. "${example}".`);
  }
  return found;
}

export function booleanInput(name: string, raw: string): boolean {
  if (TRUE_WORDS.has(raw)) return true;
  if (FALSE_WORDS.has(raw)) return false;
  throw new InputError(name, `"${raw}" is not a boolean. Use "true" or "false".`);
}

/** Control characters would garble the Venice dashboard and the log; they become spaces. */
function parseLabel(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const control = /[\u0000-\u001f\u007f]+/g;
  return raw.replace(control, ' ').replace(/\s+/g, ' ').trim();
}

function parseTimeout(raw: string): number {
  const ms = durationInput('timeout', raw, '5m', MAX_TIMEOUT_MS, '6h');
  if (ms < MIN_TIMEOUT_MS) {
    throw new InputError('timeout', `"${raw}" is too short: at least 10s is needed to wait for Venice and still clean up; e.g. "5m".`);
  }
  return ms;
}

function parseSlot(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (raw.length > 100 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(raw)) {
    throw new InputError('slot', 'must be at most 100 characters on one line; e.g. "web" or `${{ matrix.app }}`.');
  }
  return raw;
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

function parsePrNumber(raw: string): number | undefined {
  if (raw === '') return undefined;
  const value = /^#?\d{1,9}$/.test(raw) ? Number(raw.replace('#', '')) : 0;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InputError('pr-number', `"${raw}" is not a pull request number; e.g. "7" or \`\${{ github.event.pull_request.number }}\`.`);
  }
  return value;
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
