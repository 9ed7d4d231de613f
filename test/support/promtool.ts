// The monitoring tests' gate: Prometheus's promtool (Debian's prometheus package). Outside CI, without
// it, those tests are skipped with one line saying how to get it; in CI (CI=true) its absence is a
// failure, because .ci/run installs it.
import { spawnSync } from 'node:child_process';
import { test } from 'vitest';

export const PROMTOOL = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0 ? 'promtool' : undefined;
const MISSING = 'promtool is not installed: the alert and metrics checks are skipped (apt-get install prometheus)';
if (!PROMTOOL) {
  if (process.env.CI) throw new Error(`CI must run the monitoring tests, and ${MISSING}. .ci/run installs it.`);
  process.stdout.write(`${MISSING}\n`);
}

/** `test` when promtool is here, else `test.skip`. */
export const withPromtool = PROMTOOL ? test : test.skip;

/** Runs promtool; its exit status and everything it printed. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8', input, timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
