// The one test bed: a fresh Venice-compatible server per test (and a GitHub-compatible one when asked),
// the inputs and environment that point the action at them, and helpers to place keys the way earlier
// runs, other repositories or people would have left them.
//
// Every test that uses it is scanned for leaks after it ends: every step it ran, through the runner
// harness or in-process, must show the admin key, every key the server minted and the GitHub token
// only in their own add-mask lines (runner.ts, secretLeaks).
import { afterEach, beforeEach, expect } from 'vitest';
import { formatTag, type KeyTag, newTag, type Scope } from '../../core/description-tag.ts';
import { GitHubServer } from '../../fakes/github-server.ts';
import { secretLeaks, stepsRun, TEST_GITHUB_TOKEN } from '../../fakes/runner.ts';
import { type StoredKey, VeniceServer, type VeniceServerOptions } from '../../fakes/venice-server.ts';

export const REPOSITORY = 'octo-org/shop';
export const RUN_ID = '18234567890';

export interface TestBed {
  venice: VeniceServer;
  github: GitHubServer;
  /** GITHUB_API_URL for the GitHub server (empty object without one). */
  env: Record<string, string>;
  /** admin-key and api-url for the Venice server, plus the given inputs. */
  inputs(extra?: Record<string, string>): Record<string, string>;
}

export function useTestBed(options: { venice?: VeniceServerOptions; github?: boolean } = {}): TestBed {
  const bed = {
    inputs(extra: Record<string, string> = {}) {
      return { 'admin-key': bed.venice.adminKey, 'api-url': bed.venice.apiUrl, ...extra };
    },
  } as unknown as TestBed;
  beforeEach(async () => {
    stepsRun.length = 0;
    bed.venice = await new VeniceServer(options.venice).start();
    if (options.github) bed.github = await new GitHubServer().start();
    bed.env = options.github ? { GITHUB_API_URL: bed.github.url } : {};
  });
  afterEach(async () => {
    await bed.venice.stop();
    if (options.github) await bed.github.stop();
    expectNoLeaks(bed.venice);
  });
  return bed;
}

/** The leak scan each test ends with; tests that run their own servers call it themselves. */
export function expectNoLeaks(...servers: VeniceServer[]): void {
  const secrets = servers.flatMap((server) => [server.adminKey, ...server.minted.map((key) => key.apiKey)]);
  expect(secretLeaks(stepsRun, [...secrets, TEST_GITHUB_TOKEN])).toEqual([]);
}

/**
 * A key as this action would have minted it in an earlier run (tagged for `repository`), created a
 * minute ago unless said otherwise.
 */
export function addOwnedKey(
  venice: VeniceServer,
  fields: { repository?: string; pr?: number; scope?: Scope; slot?: string; runId?: string; label?: string; createdAt?: string } = {},
): StoredKey & { tag: KeyTag } {
  const tag = newTag(fields.repository ?? REPOSITORY, {
    pr: fields.pr,
    scope: fields.scope ?? 'job',
    slot: fields.scope === 'pr' ? (fields.slot ?? 'web') : undefined,
    runId: fields.runId ?? '100',
    runAttempt: '1',
    token: Math.random().toString(36).slice(2, 8).padEnd(6, '0'),
  });
  const key = venice.addKey({
    description: `${fields.label ?? 'earlier'} ${formatTag(tag)}`,
    createdAt: fields.createdAt ?? new Date(Date.now() - 60_000).toISOString(),
  });
  return { ...key, tag };
}

/**
 * Keys that must survive any deletion this repository's action makes: hand-made keys with look-alike
 * descriptions, an admin key and a never-expiring key carrying a valid tag, and another repository's key.
 */
export function addKeysThatMustSurvive(venice: VeniceServer, pr = 7): StoredKey[] {
  const valid = formatTag(newTag(REPOSITORY, { pr, scope: 'pr', slot: 'web', runId: '100', runAttempt: '1', token: 'abcdef' }));
  return [
    venice.addKey({ description: 'my own key' }),
    venice.addKey({ description: `vek:${REPOSITORY}#${pr} pr:web r100.1 ABCDEF` }),
    venice.addKey({ description: `${valid} edited later` }),
    venice.addKey({ description: valid.replace(REPOSITORY, 'octo-org/shop2') }),
    venice.addKey({ description: `admin ${valid}`, apiKeyType: 'ADMIN' }),
    venice.addKey({ description: `forever ${valid}`, expiresAt: null }),
    addOwnedKey(venice, { repository: 'octo-org/other', pr, scope: 'pr' }),
  ];
}

/** Secrets a test made itself (a wrong admin key, someone's inference key): never shown either. */
export function expectNotShown(secrets: string[]): void {
  expect(secretLeaks(stepsRun, secrets)).toEqual([]);
}
