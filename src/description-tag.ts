import { createHash, randomInt } from 'node:crypto';

/**
 * The description every minted key carries: the user's label, then this action's tag, e.g.
 *
 *   `preview deploy vek:octo/shop#7 r18234567890.1 k3f9a2`
 *
 * The tag names the repository, the PR (when there is one), the run and its attempt, and a random
 * per-invocation token. Later steps find their keys by parsing it back: one invocation's keys (post
 * step, recovery after an ambiguous create), one PR's keys (rotate, revoke), one repository's PR keys
 * (sweep). It is parsed from the end of the description, so a label can never forge or hide it.
 */
export const DESCRIPTION_MAX = 64; // Venice's maxLength for description
const REPO_MAX = 24;
const TOKEN_LENGTH = 6;
const TAG_PATTERN = /(?:^| )vek:(\S+?)(?:#(\d+))? r(\d+)\.(\d+) ([0-9a-z]{6})$/;

export interface KeyTag {
  repo: string; // a repo token, see repoToken()
  pr: number | undefined;
  runId: string;
  runAttempt: string;
  token: string;
}

/**
 * The repository as the tag shows it: `owner/name` when it fits, else the start of `name` with a hash of
 * the full `owner/name`, so a shortened name still matches exactly one repository. It depends on the
 * repository alone, never on the label or run, so every run computes the same token for the same repo.
 */
export function repoToken(repository: string): string {
  if (repository.length <= REPO_MAX) return repository;
  const hash = createHash('sha256').update(repository.toLowerCase()).digest('hex').slice(0, 6);
  const name = repository.slice(repository.indexOf('/') + 1);
  return `${name.slice(0, REPO_MAX - hash.length - 1)}~${hash}`;
}

export function newInvocationToken(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return Array.from({ length: TOKEN_LENGTH }, () => alphabet[randomInt(alphabet.length)]).join('');
}

export function formatTag(tag: KeyTag): string {
  const pr = tag.pr === undefined ? '' : `#${tag.pr}`;
  return `vek:${tag.repo}${pr} r${tag.runId}.${tag.runAttempt} ${tag.token}`;
}

/** The label is cut to fit; the tag never is. */
export function buildDescription(label: string, tag: KeyTag): { description: string; labelTruncated: boolean } {
  const tagText = formatTag(tag);
  if (tagText.length > DESCRIPTION_MAX) {
    throw new Error(`the key tag "${tagText}" is longer than Venice's ${DESCRIPTION_MAX} characters`);
  }
  if (label === '') return { description: tagText, labelTruncated: false };
  const room = DESCRIPTION_MAX - tagText.length - 1;
  const kept = label.slice(0, Math.max(room, 0)).trimEnd();
  return {
    description: kept === '' ? tagText : `${kept} ${tagText}`,
    labelTruncated: kept.length < label.length,
  };
}

export function parseTag(description: string | null | undefined): KeyTag | undefined {
  const match = TAG_PATTERN.exec(description ?? '');
  if (!match) return undefined;
  const [, repo = '', pr, runId = '', runAttempt = '', token = ''] = match;
  return { repo, pr: pr === undefined ? undefined : Number(pr), runId, runAttempt, token };
}

export function isSameInvocation(description: string | null | undefined, tag: KeyTag): boolean {
  const found = parseTag(description);
  return (
    found !== undefined &&
    found.repo === tag.repo &&
    found.runId === tag.runId &&
    found.runAttempt === tag.runAttempt &&
    found.token === tag.token
  );
}

/** Whether a parsed tag names this repository (GitHub repository names are case-insensitive). */
export function isTagOfRepository(tag: KeyTag, repository: string): boolean {
  return tag.repo.toLowerCase() === repoToken(repository).toLowerCase();
}
