// The one test bed: a fresh Venice-compatible server per test (and a GitHub-compatible one when asked),
// the inputs and environment that point the action at them, and helpers to place keys the way earlier
// runs, other repositories or people would have left them (testkit/seed-keys.ts).
//
// Every test that uses it is scanned for leaks after it ends: every step it ran, through the runner
// harness or in-process, must show the admin key, every key the server minted and the GitHub token
// only in their own add-mask lines (runner.ts, secretLeaks).
import { afterEach, beforeEach } from 'vitest';
import { GitHubServer } from '../../fakes/github-server.ts';
import { stepsRun } from '../../fakes/runner.ts';
import { VeniceServer, type VeniceServerOptions } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';

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
