// The leak scans every test ends with, for the action's steps and the broker's alike: every step run
// (through the runner harness or in-process) must show the admin key, every key a Venice fake minted and
// the GitHub token only in their own add-mask lines (fakes/runner.ts, secretLeaks).
import { expect } from 'vitest';
import { secretLeaks, stepsRun, TEST_GITHUB_TOKEN } from '../fakes/runner.ts';
import type { VeniceServer } from '../fakes/venice-server.ts';

/** The leak scan each test ends with; tests that run their own servers call it themselves. */
export function expectNoLeaks(...servers: VeniceServer[]): void {
  const secrets = servers.flatMap((server) => [server.adminKey, ...server.minted.map((key) => key.apiKey)]);
  expect(secretLeaks(stepsRun, [...secrets, TEST_GITHUB_TOKEN])).toEqual([]);
}

/** Secrets a test made itself (a wrong admin key, someone's inference key): never shown either. */
export function expectNotShown(secrets: string[]): void {
  expect(secretLeaks(stepsRun, secrets)).toEqual([]);
}
