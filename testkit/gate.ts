// A gate for tests that need a program the README's set-up cannot provide (redis-server, Chromium,
// promtool): without it, outside CI, they are skipped with one line saying how to get it; in CI (CI=true)
// its absence fails the run, because .ci/run installs it.
import { test } from 'vitest';

/** `test` when the program is here, else `test.skip`; `missing` is the one line ("… is not installed: …"). */
export function gate(present: boolean, missing: string, tests: string): typeof test | typeof test.skip {
  if (!present) {
    if (process.env.CI) throw new Error(`CI must run the ${tests}, and ${missing.split(':')[0]}. .ci/run installs it.`);
    process.stdout.write(`${missing}\n`);
  }
  return present ? test : test.skip;
}
