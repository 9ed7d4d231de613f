// The monitoring tests' gate (gate.ts): Prometheus's promtool (Debian's prometheus package).
import { spawnSync } from 'node:child_process';
import { gate } from '../../../testkit/gate.ts';

export const PROMTOOL = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0 ? 'promtool' : undefined;

/** `test` when promtool is here, else `test.skip`. */
export const withPromtool = gate(
  PROMTOOL !== undefined,
  'promtool is not installed: the alert and metrics checks are skipped (apt-get install prometheus)',
  'monitoring tests',
);

/** Runs promtool; its exit status and everything it printed. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8', input, timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
