// Set-up shared by the PR scenario tests: a Venice-compatible server and a GitHub-compatible server,
// and helpers to place keys the way earlier runs (or other people) would have left them.
import { afterEach, beforeEach } from 'vitest';
import { formatTag, repoToken } from '../../src/description-tag.ts';
import { GitHubServer } from '../support/github-server.ts';
import { scanEveryStepForLeaks } from '../support/scenario.ts';
import { type StoredKey, VeniceServer } from '../support/venice-server.ts';

export const REPOSITORY = 'octo-org/shop';

export function usePrBed(): { venice: VeniceServer; github: GitHubServer; env: Record<string, string> } {
  const bed = {} as { venice: VeniceServer; github: GitHubServer; env: Record<string, string> };
  beforeEach(async () => {
    bed.venice = await new VeniceServer().start();
    bed.github = await new GitHubServer().start();
    bed.env = { GITHUB_API_URL: bed.github.url };
  });
  afterEach(async () => {
    await bed.venice.stop();
    await bed.github.stop();
  });
  scanEveryStepForLeaks(() => [bed.venice]);
  return bed;
}

/** A key as this action would have minted it for `repository` PR `pr` in an earlier run. */
export function addPrKey(venice: VeniceServer, repository: string, pr: number | undefined, runId = '100', label = 'preview'): StoredKey {
  const tag = formatTag({
    repo: repoToken(repository),
    pr,
    runId,
    runAttempt: '1',
    token: Math.random().toString(36).slice(2, 8).padEnd(6, '0'),
  });
  return venice.addKey({ description: `${label} ${tag}`, createdAt: new Date(Date.now() - 60_000).toISOString() });
}
