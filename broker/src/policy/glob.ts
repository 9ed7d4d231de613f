/**
 * How a rule's `match` patterns compare with a token's claims. The syntax is a subset of GitHub's
 * branch and path filters, so a workflow author reads it the same way: `*` is any run of characters
 * except `/`, `**` is any run including `/`, `?` is one character except `/`; everything else is
 * literal. The rest of GitHub's filter syntax (`[...]`, `{a,b}`, `+`, `!`, `(...)`, `\`) is refused
 * when the config is loaded (see unsupportedCharacter): a pattern that loads but silently never
 * matches, or matches more than it reads, is worse than one that does not load.
 * Owner and repository names compare case-insensitively (as GitHub compares them), other claims
 * exactly. `repository_id` and `repository_owner_id` are numbers, compared exactly, never as patterns:
 * they are the identities that do not change hands when a name is freed.
 * Written here rather than taken from a glob library: those accept braces, classes and extglobs, which
 * would let a policy mean more than its author read.
 */
export const MATCHABLE_CLAIMS = [
  'repository_owner_id',
  'repository_id',
  'repository_owner',
  'repository',
  'ref',
  'environment',
  'event_name',
  'job_workflow_ref',
  'sub',
] as const;
export type MatchableClaim = (typeof MATCHABLE_CLAIMS)[number];
/** Claims compared as exact whole numbers (written quoted or not in the config; strings in tokens). */
export const ID_CLAIMS = new Set<MatchableClaim>(['repository_id', 'repository_owner_id']);
const CASE_INSENSITIVE = new Set<MatchableClaim>(['repository', 'repository_owner']);
/** GitHub filter characters this matcher does not implement. */
const UNSUPPORTED = /[[\]{}()!+\\]/;

/** The first character of `pattern` this matcher does not support, or undefined. */
export function unsupportedCharacter(pattern: string): string | undefined {
  return UNSUPPORTED.exec(pattern)?.[0];
}

export function hasWildcard(pattern: string): boolean {
  return /[*?]/.test(pattern);
}

export function globPattern(pattern: string, claim: MatchableClaim): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '*') {
      source += '[^/]*';
    } else if (char === '?') {
      source += '[^/]';
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, CASE_INSENSITIVE.has(claim) ? 'is' : 's');
}

/** A rule's match, compiled once at load: each claim's test. */
export type CompiledMatch = [MatchableClaim, (value: string) => boolean][];

export function compileMatch(patterns: Partial<Record<MatchableClaim, string>>): CompiledMatch {
  return Object.entries(patterns).map(([claim, pattern]) => {
    const name = claim as MatchableClaim;
    if (ID_CLAIMS.has(name)) return [name, (value: string) => value === pattern];
    const regex = globPattern(pattern as string, name);
    return [name, (value: string) => regex.test(value)];
  });
}

/** Whether every pattern matches its claim; a claim the token does not carry (or not as text) never matches. */
export function matchesClaims(match: CompiledMatch, claims: Record<string, unknown>): boolean {
  return match.every(([claim, test]) => {
    const value = claims[claim];
    return typeof value === 'string' && test(value);
  });
}
