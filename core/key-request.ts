/**
 * What one key should be: the fields of a key request, their parsers and their limits. The action reads
 * them from its inputs, the broker from a mint request's JSON, with the same functions and the same
 * names, so the two cannot disagree about a request. Every mistake is an InputError naming the field,
 * repeating the value and showing an accepted one.
 */

import { parseDuration } from './duration.js';
import { InputError, InputErrors } from './errors.js';
import { prNumberOf } from './ownership.js';

export const LIMIT_PERIODS = ['EPOCH', 'MONTH', 'LIFETIME'] as const;
export const MODEL_PRIVACIES = ['ALL', 'PRIVATE_TEXT', 'PRIVATE_ONLY'] as const;
export const SCOPES = ['job', 'run', 'pr'] as const;
export type LimitPeriod = (typeof LIMIT_PERIODS)[number];
export type ModelPrivacy = (typeof MODEL_PRIVACIES)[number];
export type KeyScope = (typeof SCOPES)[number];

/** Venice's bounds for a consumption limit (see swagger.yaml, consumptionLimit). */
export const MAX_LIMIT = 9_999_999_999;
/** A key outliving a year is no longer "ephemeral"; Venice itself has no documented maximum. */
export const MAX_EXPIRES_IN_MS = 366 * 86_400_000;

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

export type ReadInput = (name: string) => string;
export type Field = <T>(name: string, parse: (raw: string) => T) => T;

// YAML 1.2 core schema spellings, the same set @actions/core's getBooleanInput accepts.
const TRUE_WORDS = new Set(['true', 'True', 'TRUE']);
const FALSE_WORDS = new Set(['false', 'False', 'FALSE']);

/** A field reader that collects every InputError instead of stopping at the first. */
export function collecting(read: ReadInput, errors: InputError[]): Field {
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

export function readKeyRequestFields(field: Field): KeyRequest {
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

export function slotWithoutPr(scope: KeyScope): InputError {
  return new InputError('slot', `is only for preview keys (scope pr), not scope ${scope}; e.g. \`scope: pr\` with \`slot: web\`.`);
}

export function durationInput(name: string, raw: string, example: string, maxMs: number, maxText: string): number {
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

/** A limit as written (an input, or a broker's answer): 0 to MAX_LIMIT, or "unlimited" (any case) for none; undefined otherwise. */
export function parseLimit(raw: string): number | null | undefined {
  if (raw.toLowerCase() === 'unlimited') return null;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  return Number.isFinite(value) && value <= MAX_LIMIT ? value : undefined;
}

function limitInput(name: string, raw: string): number | null {
  const value = parseLimit(raw);
  if (value === undefined) {
    throw new InputError(name, `"${raw}" is not a limit. Use a number from 0 to ${MAX_LIMIT}, e.g. "5" or "0.5", or "unlimited".`);
  }
  return value;
}

export function enumInput<T extends string>(name: string, raw: string, allowed: readonly T[], example: T): T {
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

function parseSlot(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (raw.length > 100 || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(raw)) {
    throw new InputError('slot', 'must be at most 100 characters on one line; e.g. "web" or `${{ matrix.app }}`.');
  }
  return raw;
}

function parsePrNumber(raw: string): number | undefined {
  if (raw === '') return undefined;
  const value = prNumberOf(raw);
  if (value === undefined) {
    throw new InputError('pr-number', `"${raw}" is not a pull request number; e.g. "7" or \`\${{ github.event.pull_request.number }}\`.`);
  }
  return value;
}
