/**
 * The description every minted key carries: the user's label, then the key's tag, e.g.
 *
 *   `preview deploy vek:octo/shop#7 pr:web r18234567890.1 k3f9a2`
 *
 * The tag says who owns the key: the repository, the pull request (when there is one), the scope
 * (`job`, `kept` for a job key with skip-delete, `run`, or `pr:<slot>`), the run and its attempt, and a
 * random per-invocation token. Every path that deletes parses it back and touches only keys whose tag
 * names this repository exactly (see owned-keys.ts). It is parsed from the end of the description, so a
 * label can never forge or hide it, and it never exceeds Venice's 64 characters: the label is cut first.
 */
import { createHash, randomInt } from 'node:crypto';

export const DESCRIPTION_MAX = 64; // Venice's maxLength for description
const REPO_MAX = 20;
const SLOT_MAX = 8;
const TOKEN_LENGTH = 6;
/**
 * 12 base-36 characters of SHA-256: 12 × log2(36) = 62.0 bits, drawn uniformly from the digest's first
 * 128 bits, so making a repository name whose hash equals another's takes about 2^62 tries. (The
 * earlier 10 characters held about 48.5 bits: their first character came from the top of a 64-bit
 * number and was only ever 0-3.) The tag still fits Venice's 64 characters for any run id of up to 12
 * digits (GitHub's are 11 today) with a 9-digit PR and an 8-character slot at once; see newTag.
 */
const REPO_HASH_LENGTH = 12;
const SLOT_HASH_LENGTH = 7;
const NAME = '[A-Za-z0-9_.-]';
const TAG_PATTERN = new RegExp(
  `(?:^| )vek:(${NAME}+/${NAME}+|${NAME}{0,${REPO_MAX - REPO_HASH_LENGTH - 1}}~[0-9a-z]{${REPO_HASH_LENGTH}})(?:#([1-9]\\d{0,8}))? ` +
    `(job|kept|run|pr:(?:${NAME}{1,${SLOT_MAX}}|~[0-9a-z]{${SLOT_HASH_LENGTH}})) r([1-9]\\d{0,12})\\.([1-9]\\d{0,2}) ([0-9a-z]{6})$`,
);

/** job: deleted by its post step; kept: a job key with skip-delete; run: shared by a run's jobs; pr: a preview slot. */
export type Scope = 'job' | 'kept' | 'run' | 'pr';

export interface KeyTag {
  /** The repository as the tag shows it: `owner/name`, or a hashed form (see repoToken). */
  repo: string;
  pr: number | undefined;
  scope: Scope;
  /** Only for scope pr: the slot as the tag shows it (see slotToken). */
  slot: string | undefined;
  runId: string;
  runAttempt: string;
  token: string;
}

/** `length` base-36 characters, uniform: the digest's first 128 bits reduced modulo 36^length. */
function base36Hash(text: string, length: number): string {
  const digest = createHash('sha256').update(text).digest();
  const value = (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
  return (value % 36n ** BigInt(length)).toString(36).padStart(length, '0');
}

/**
 * `owner/name` when it fits, else the start of `name`, `~` and a hash of the lower-cased `owner/name`.
 * GitHub names cannot contain `~`, so a hashed form can never equal a real name.
 */
export function repoToken(repository: string): string {
  if (repository.length <= REPO_MAX) return repository;
  const name = repository.slice(repository.indexOf('/') + 1).replace(/[^A-Za-z0-9_.-]/g, '');
  return `${name.slice(0, REPO_MAX - REPO_HASH_LENGTH - 1)}~${repoHash(repository)}`;
}

function repoHash(repository: string): string {
  return base36Hash(repository.toLowerCase(), REPO_HASH_LENGTH);
}

/** The slot as the tag shows it: itself when short and plain, else `~` and a hash of it. */
export function slotToken(slot: string): string {
  return new RegExp(`^${NAME}{1,${SLOT_MAX}}$`).test(slot) ? slot : `~${base36Hash(slot, SLOT_HASH_LENGTH)}`;
}

export function newInvocationToken(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return Array.from({ length: TOKEN_LENGTH }, () => alphabet[randomInt(alphabet.length)]).join('');
}

export function formatTag(tag: KeyTag): string {
  const pr = tag.pr === undefined ? '' : `#${tag.pr}`;
  const scope = tag.scope === 'pr' ? `pr:${tag.slot}` : tag.scope;
  return `vek:${tag.repo}${pr} ${scope} r${tag.runId}.${tag.runAttempt} ${tag.token}`;
}

/**
 * A new tag for this repository. When even the shortened repository does not leave the tag within 64
 * characters (a long PR number, run id and slot together), the repository is shown by its hash alone.
 */
export function newTag(repository: string, fields: Omit<KeyTag, 'repo'>): KeyTag {
  const tag = { ...fields, repo: repoToken(repository) };
  if (formatTag(tag).length <= DESCRIPTION_MAX) return tag;
  const hashed = { ...tag, repo: `~${repoHash(repository)}` };
  if (formatTag(hashed).length > DESCRIPTION_MAX) {
    throw new Error(`the key tag "${formatTag(hashed)}" is longer than Venice's ${DESCRIPTION_MAX} characters`);
  }
  return hashed;
}

/**
 * The tag of a key made for a request: the one place that decides its scope. A job key with
 * skip-delete is `kept` (sweep leaves it to its owner); a preview key names its slot ("default" when
 * none is given). The action and the broker both build their tags here.
 */
export function tagForRequest(
  repository: string,
  request: { scope: 'job' | 'run' | 'pr'; skipDelete: boolean; slot: string },
  owner: { pr: number | undefined; runId: string; runAttempt: string; token: string },
): KeyTag {
  return newTag(repository, {
    pr: owner.pr,
    scope: request.scope === 'job' && request.skipDelete ? 'kept' : request.scope,
    slot: request.scope === 'pr' ? slotToken(request.slot || 'default') : undefined,
    runId: owner.runId,
    runAttempt: owner.runAttempt,
    token: owner.token,
  });
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The label is cut to fit; the tag never is. The cut falls between whole characters (grapheme
 * clusters), so a label never ends in half an emoji or a lone surrogate, which JSON text must not carry.
 */
export function buildDescription(label: string, tag: KeyTag): { description: string; labelTruncated: boolean } {
  const tagText = formatTag(tag);
  if (label === '') return { description: tagText, labelTruncated: false };
  const room = DESCRIPTION_MAX - tagText.length - 1;
  let kept = '';
  for (const { segment } of graphemes.segment(label)) {
    if (kept.length + segment.length > room) break;
    kept += segment;
  }
  kept = kept.trimEnd();
  return {
    description: kept === '' ? tagText : `${kept} ${tagText}`,
    labelTruncated: kept.length < label.length,
  };
}

export function parseTag(description: string | null | undefined): KeyTag | undefined {
  const match = TAG_PATTERN.exec(description ?? '');
  if (!match) return undefined;
  const [, repo = '', pr, scopeText = '', runId = '', runAttempt = '', token = ''] = match;
  const [scope, slot] = scopeText.startsWith('pr:') ? (['pr', scopeText.slice(3)] as const) : ([scopeText as Scope, undefined] as const);
  return { repo, pr: pr === undefined ? undefined : Number(pr), scope, slot, runId, runAttempt, token };
}

/** Whether a description carries exactly this tag (same repository token, scope, run, attempt and token). */
export function hasTag(description: string | null | undefined, tag: KeyTag): boolean {
  const found = parseTag(description);
  return found !== undefined && formatTag(found) === formatTag(tag);
}

/**
 * Whether a parsed tag names this repository in exactly one of the two forms a tag is written in:
 * repoToken() (compared case-insensitively, as GitHub compares names) or the hash alone.
 */
export function isTagOfRepository(tag: KeyTag, repository: string): boolean {
  return tag.repo.toLowerCase() === repoToken(repository).toLowerCase() || tag.repo === `~${repoHash(repository)}`;
}
