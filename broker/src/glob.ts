/**
 * How a rule's `match` patterns compare with a token's claims. The syntax is GitHub's own for branch
 * and path filters, so a workflow author reads it the same way: `*` is any run of characters except
 * `/`, `**` is any run including `/`, `?` is one character except `/`; everything else is literal.
 * Owner and repository names compare case-insensitively (as GitHub compares them), other claims exactly.
 * Written here rather than taken from a glob library: those accept braces, classes and extglobs, which
 * would let a policy mean more than its author read.
 */
export const MATCHABLE_CLAIMS = ['repository', 'repository_owner', 'ref', 'environment', 'event_name', 'job_workflow_ref', 'sub'] as const;
export type MatchableClaim = (typeof MATCHABLE_CLAIMS)[number];
const CASE_INSENSITIVE = new Set<MatchableClaim>(['repository', 'repository_owner']);

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

/** Whether every pattern matches its claim; a claim the token does not carry (or not as text) never matches. */
export function matchesClaims(patterns: Partial<Record<MatchableClaim, string>>, claims: Record<string, unknown>): boolean {
  return Object.entries(patterns).every(([claim, pattern]) => {
    const value = claims[claim];
    return typeof value === 'string' && globPattern(pattern as string, claim as MatchableClaim).test(value);
  });
}
