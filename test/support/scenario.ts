// Shared set-up for scenario tests: a fresh Venice-compatible server per test, and the leak scan
// every scenario ends with.
import { afterEach, beforeEach, expect } from 'vitest';
import { type StepResult, secretLeaks, stepsRun, TEST_GITHUB_TOKEN } from './runner.ts';
import { VeniceServer, type VeniceServerOptions } from './venice-server.ts';

export function useVeniceServer(options: VeniceServerOptions = {}): { server: VeniceServer } {
  const holder = {} as { server: VeniceServer };
  beforeEach(async () => {
    holder.server = await new VeniceServer(options).start();
  });
  afterEach(async () => {
    await holder.server.stop();
  });
  scanEveryStepForLeaks(() => [holder.server]);
  return holder;
}

/**
 * After each test, every step it ran (through the runner harness) is scanned for the admin key, every
 * key the servers minted and the GitHub token: each may appear only in its own add-mask line.
 */
export function scanEveryStepForLeaks(servers: () => VeniceServer[]): void {
  beforeEach(() => {
    stepsRun.length = 0;
  });
  afterEach(() => {
    const secrets = servers().flatMap((server) => [server.adminKey, ...server.minted.map((key) => key.apiKey)]);
    expect(secretLeaks(stepsRun, [...secrets, TEST_GITHUB_TOKEN])).toEqual([]);
  });
}

/** The inputs every scenario needs: the server's admin key and URL, and a short deadline. */
export function baseInputs(server: VeniceServer, inputs: Record<string, string> = {}): Record<string, string> {
  return { 'admin-key': server.adminKey, 'api-url': server.apiUrl, ...inputs };
}

/** Neither the admin key nor any key the server minted appears anywhere but its add-mask line. */
export function expectNoLeaks(server: VeniceServer, steps: StepResult[], otherSecrets: string[] = []): void {
  expect(secretLeaks(steps, [server.adminKey, ...server.minted.map((key) => key.apiKey), ...otherSecrets])).toEqual([]);
}
