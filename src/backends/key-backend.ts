/**
 * Where the action's keys are made and ended: directly at Venice with the admin key (direct.ts), or
 * through the key broker with the job's OIDC token (broker/broker-backend.ts, its own chunk, loaded only
 * with broker-url). steps.ts chooses one per step; each mode is written once against this interface and
 * never asks which it has. What differs between the two (who builds the tag, who seals a run key's
 * handle, who rotates, what post can still find) is inside each backend.
 */
import type { DeletedKeys, OwnedKey, SingleOutcome } from '../../core/delete-keys.js';
import type { KeyTag } from '../../core/description-tag.js';
import type { HandleContents } from '../../core/key-handle.js';
import type { KeyRequest } from '../../core/key-request.js';
import type { MintedKey } from '../../core/venice-api.js';
import type { Config } from '../runner/inputs.js';

/** What a mint asks for: the inputs, with the run's pull request and the slot resolved. */
export interface MintOrder {
  config: Config;
  pr: number | undefined;
  /** The preview slot (scope pr): the input, else the job's id. */
  slot: string;
}

/** A key made for this step, masked, with what the log, the outputs and the summary need of it. */
export interface Minted extends MintedKey {
  tag: KeyTag;
  /** A run key's handle, for the run's other jobs. */
  handle: string | undefined;
  /** The caps it was made with (a broker's policy may have lowered the request's). */
  granted: Pick<KeyRequest, 'usdLimit' | 'diemLimit' | 'limitPeriod' | 'modelPrivacy'>;
  /** The broker's rule and what it lowered; undefined on the direct path. */
  broker: { rule: string; clamped: string[] } | undefined;
  /** Lines for the log once the key is masked and named (e.g. a label shortened to fit). */
  notes: string[];
}

/** A run key, opened from its handle. */
export type RunKey = HandleContents & { tag: KeyTag };

export interface KeyBackend {
  /** How the log says where the work happened: '' (direct) or ' through the broker'. */
  readonly via: string;
  /** Make the key; it is masked before this returns. */
  mint(order: MintOrder): Promise<Minted>;
  /** Delete a key just minted, because the step failed; says whether post must still watch for a late key. */
  discard(key: Minted): Promise<{ postMustWatch: boolean }>;
  /** Delete the older keys of a new preview key's slot (throws when it could not); the ids deleted. */
  rotateOlder(key: Minted, order: MintOrder): Promise<string[]>;
  /** Open a run key's handle; the key is masked before this returns. */
  openHandle(handle: string): Promise<RunKey>;
  /** Delete one key this repository owns, by its id and tag. */
  deleteKey(id: string, tag: KeyTag): Promise<SingleOutcome>;
  /**
   * Keys of this invocation that were made but not handed out (found by tag), all but `keep`: the
   * direct path's post looks for them; undefined where another party does (the broker's journal).
   */
  deleteLeftovers: ((tag: KeyTag, keep: string | undefined) => Promise<number>) | undefined;
  /** This repository's keys. */
  listOwned(): Promise<OwnedKey[]>;
  /** Every key of a pull request, deleted (or, in a dry run, only named). */
  revokePr(pr: number, dryRun: boolean): Promise<{ keys: OwnedKey[]; deleted: DeletedKeys }>;
  /** Delete these keys of this repository (or, in a dry run, only name them). */
  deleteOwned(keys: OwnedKey[], dryRun: boolean): Promise<DeletedKeys>;
}
