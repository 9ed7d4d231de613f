/**
 * The broker's answers on the wire, typed once: the broker builds each body as one of these types
 * (broker/src/http/app.ts), and the action reads them back through the readers here
 * (src/backends/broker/broker-client.ts). A field renamed or retyped on one side breaks the build of the
 * other. broker/openapi.yaml describes the same bodies to everyone else (a test holds it to them).
 *
 * The action trusts nothing in an answer because it is typed: every reader here checks each value and
 * keeps only what is well formed (the tag, a key's owner, is checked by the caller).
 */

import type { Spent } from './delete-keys.js';
import type { KeyTag } from './description-tag.js';
import {
  type KeyRequest,
  type KeyRequestField,
  LIMIT_PERIODS,
  type LimitPeriod,
  MODEL_PRIVACIES,
  type ModelPrivacy,
  parseLimit,
} from './key-request.js';

/** What a mint was granted, as the action's inputs write it (`unlimited`, `3600s`): keyRequestFields. */
export type GrantedFields = Record<KeyRequestField, string>;

/** POST /v1/keys (201). */
export interface MintAnswer {
  id: string;
  apiKey: string;
  description: string;
  expiresAt: string;
  /** A run key's handle, for the run's other jobs. */
  handle?: string;
  /** The rule that granted the key. */
  rule: string;
  granted: GrantedFields;
  /** What the policy lowered, in words. */
  clamped: string[];
  /** With rotate: the older keys of the slot deleted, and whether the rotation failed. */
  rotated?: string[];
  rotateFailed?: boolean;
}

/** A key as the broker lists it to its owner (never a secret). */
export interface OwnedKeyAnswer {
  id: string;
  description: string;
  createdAt: string | null;
  expiresAt: string | null;
  tag: Pick<KeyTag, 'pr' | 'scope' | 'slot' | 'runId' | 'runAttempt'>;
}

/** GET /v1/keys. */
export interface KeysAnswer {
  keys: OwnedKeyAnswer[];
}

/** POST /v1/keys/unwrap. */
export interface UnwrapAnswer {
  id: string;
  apiKey: string;
  description: string;
  expiresAt: string;
}

/** DELETE /v1/keys/{id}. */
export interface DeleteAnswer {
  keyId: string;
  outcome: 'deleted' | 'already-gone' | 'not-ours';
  spent: Spent | undefined;
}

/** POST /v1/keys/revoke. */
export interface RevokeAnswer {
  pr: number;
  dryRun: boolean;
  keys: OwnedKeyAnswer[];
  deletedIds: string[];
  spent: Spent;
  unread: number;
}

/** POST /v1/keys/sweep. */
export interface SweepAnswer {
  dryRun: boolean;
  keys: OwnedKeyAnswer[];
  deletedIds: string[];
  /** Ids named that are not the caller's to sweep. */
  refused: number;
}

/** An answer as it arrives: its fields named as the type names them, each value still to be checked. */
export type Unchecked<T> = { [K in keyof T]?: unknown };

/** The caps an answer says were granted; each one that is missing or malformed is left out. */
export function readGranted(value: unknown): Partial<Pick<KeyRequest, 'usdLimit' | 'diemLimit' | 'limitPeriod' | 'modelPrivacy'>> {
  const fields = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof GrantedFields, unknown>>;
  const granted: ReturnType<typeof readGranted> = {};
  const usd = limitOf(fields['usd-limit']);
  const diem = limitOf(fields['diem-limit']);
  if (usd !== undefined) granted.usdLimit = usd;
  if (diem !== undefined) granted.diemLimit = diem;
  const period = LIMIT_PERIODS.find((known) => known === fields['limit-period']);
  if (period) granted.limitPeriod = period as LimitPeriod;
  const privacy = fields['model-privacy'];
  if (privacy === '') granted.modelPrivacy = undefined;
  else if (MODEL_PRIVACIES.includes(privacy as ModelPrivacy)) granted.modelPrivacy = privacy as ModelPrivacy;
  return granted;
}

function limitOf(value: unknown): number | null | undefined {
  return typeof value === 'string' ? parseLimit(value) : undefined;
}
