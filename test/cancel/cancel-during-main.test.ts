// A cancelled job: the runner sends SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, then still
// runs the post step. Whatever moment the signal hits, no key may be left alive afterwards. One table:
// each row is a moment (what Venice is doing when the signal arrives) and what main and post then do.
import { expect, test } from 'vitest';
import { runStep, startStep } from '../../fakes/runner.ts';
import type { Call, Fault } from '../../fakes/venice-server.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

interface Moment {
  /** What Venice does (none: it answers at once). */
  fault?: [Call, Fault];
  /** The request the signal waits for (none: the moment main starts), and a pause after it. */
  cancelAt?: Call;
  pauseMs?: number;
  /** Keys alive when main has exited, and keys Venice made by then. */
  liveAfterMain?: number;
  mintedAfterMain?: number;
  /** What post says; how many keys Venice made in all. */
  postSays?: string[];
  mintedInAll?: number;
  timeoutMs?: number;
}

const MOMENTS: [string, Moment][] = [
  ['the moment main starts: nothing minted, post finds nothing', { mintedInAll: 0 }],
  [
    'while waiting to retry a rate-limited create: stops at once, nothing minted',
    { fault: ['create', { kind: 'status', status: 429, retryAfter: '30' }], cancelAt: 'create', pauseMs: 200, mintedInAll: 0 },
  ],
  [
    'during a slow create: the create settles, main deletes the key it will not hand out',
    { fault: ['create', { kind: 'delay', ms: 1_500 }], cancelAt: 'create', liveAfterMain: 0, mintedAfterMain: 1 },
  ],
  [
    'during a create that never answers: main gives up, post finds the key by its tag and deletes it',
    { fault: ['create', { kind: 'hang' }], cancelAt: 'create', liveAfterMain: 1, postSays: ['Deleted 1 key(s) left by main.'] },
  ],
  [
    'during verification: main deletes the new key before exiting',
    { fault: ['verify', { kind: 'hang' }], cancelAt: 'verify', liveAfterMain: 0 },
  ],
  [
    'during a create Venice completes 12 s later: main gives up, post watches for the late key and deletes it',
    {
      fault: ['create', { kind: 'act-late', ms: 12_000 }],
      cancelAt: 'create',
      mintedAfterMain: 0, // not yet: Venice is still working on it
      postSays: ['watching for a late key', 'Deleted 1 key(s) left by main.'],
      mintedInAll: 1,
      timeoutMs: 40_000,
    },
  ],
];

for (const [moment, row] of MOMENTS) {
  test(
    `SIGINT ${moment}`,
    async () => {
      const server = bed.venice;
      const inputs = bed.inputs();
      if (row.fault) server.inject(...row.fault);
      const running = startStep('main', { inputs });
      if (row.cancelAt) await server.nextRequest(row.cancelAt);
      if (row.pauseMs) await new Promise((done) => setTimeout(done, row.pauseMs)); // let it start its wait
      running.cancel();
      const main = await running.done;

      if (row.cancelAt) {
        // It exited by itself, failed, saying why, not by the runner's SIGKILL, and handed out nothing.
        expect([main.exitCode, main.signal]).toEqual([1, null]);
        expect(main.errors).toEqual([expect.stringContaining('the job was cancelled')]);
        expect(main.outputs).toEqual({});
      } else {
        expect(main.exitCode === 0 && main.signal === null).toBe(false);
      }
      if (row.liveAfterMain !== undefined) expect(server.liveKeys()).toHaveLength(row.liveAfterMain);
      if (row.mintedAfterMain !== undefined) expect(server.minted).toHaveLength(row.mintedAfterMain);
      if (row.liveAfterMain === 1) {
        // Made by Venice, never seen by main: post finds it by the tag saved before the create.
        expect(main.state['key-id'] ?? '').toBe('');
        expect(main.state['invocation-tag']).toMatch(/^vek:octo-org\/shop job r18234567890\.1 [0-9a-z]{6}$/);
      }

      const post = await runStep('post', { inputs, state: main.state });
      expect(post.exitCode).toBe(0);
      for (const line of row.postSays ?? []) expect(post.stdout).toContain(line);
      if (row.mintedInAll !== undefined) expect(server.minted).toHaveLength(row.mintedInAll);
      expect(server.count('create')).toBeLessThanOrEqual(1);
      expect(server.liveKeys()).toEqual([]);
    },
    row.timeoutMs,
  );
}
