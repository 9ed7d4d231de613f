// The fault matrix: every request the action makes × every way it can go wrong, and the invariant
// that must hold after each: main ends with exactly one live key (the one in its outputs) or fails
// with none; post leaves none (unless it says which one it could not delete). Runs in-process against
// the loopback server, each row on a server of its own so the rows can run at once.
import { expect, test } from 'vitest';
import { type Call, type Fault, VeniceServer } from '../../fakes/venice-server.ts';
import { expectNoLeaks } from '../../testkit/leaks.ts';
import { mainInProcess, postInProcess } from '../support/in-process.ts';

const FAULTS = {
  'HTTP 500': { kind: 'status', status: 500 },
  'HTTP 503': { kind: 'status', status: 503 },
  '429 + Retry-After': { kind: 'status', status: 429, retryAfter: '1' },
  '429 alone': { kind: 'status', status: 429 },
  'reset before acting': { kind: 'reset-before' },
  'reset after acting': { kind: 'reset-after' },
  'no answer': { kind: 'hang' },
  'malformed JSON': { kind: 'malformed' },
  '200 missing fields': { kind: 'missing-fields' },
} satisfies Record<string, Fault>;
type FaultName = keyof typeof FAULTS;

type Row = [call: Call, fault: FaultName, times: number, main: 'ok' | 'fails', liveAfterMain: number, liveAfterPost: number];

const MATRIX: Row[] = [
  // call      fault                   times  main     after main  after post
  ['create', 'HTTP 500', 1, 'ok', 1, 0],
  ['create', 'HTTP 503', 1, 'ok', 1, 0],
  ['create', '429 + Retry-After', 1, 'ok', 1, 0],
  ['create', '429 alone', 1, 'ok', 1, 0],
  ['create', 'reset before acting', 1, 'ok', 1, 0],
  ['create', 'reset after acting', 1, 'ok', 1, 0],
  // a create is never abandoned early (a second could land beside it): an unanswered one uses up the
  // step, is then recovered by its tag, and main fails with nothing left
  ['create', 'no answer', 1, 'fails', 0, 0],
  ['create', 'malformed JSON', 1, 'ok', 1, 0],
  ['create', '200 missing fields', 1, 'ok', 1, 0],
  ['verify', 'HTTP 500', 1, 'ok', 1, 0],
  ['verify', 'HTTP 503', 1, 'ok', 1, 0],
  ['verify', '429 + Retry-After', 1, 'ok', 1, 0],
  ['verify', '429 alone', 1, 'ok', 1, 0],
  ['verify', 'reset before acting', 1, 'ok', 1, 0],
  ['verify', 'reset after acting', 1, 'ok', 1, 0],
  ['verify', 'no answer', 1, 'ok', 1, 0],
  ['verify', 'malformed JSON', 1, 'ok', 1, 0],
  ['verify', '200 missing fields', 1, 'ok', 1, 0],
  // list runs only to recover from an ambiguous create, so each list row also drops one create answer
  ['list', 'HTTP 500', 1, 'ok', 1, 0],
  ['list', 'HTTP 503', 1, 'ok', 1, 0],
  ['list', '429 + Retry-After', 1, 'ok', 1, 0],
  ['list', '429 alone', 1, 'ok', 1, 0],
  ['list', 'reset before acting', 1, 'ok', 1, 0],
  ['list', 'reset after acting', 1, 'ok', 1, 0],
  ['list', 'no answer', 1, 'ok', 1, 0],
  ['list', 'malformed JSON', 1, 'ok', 1, 0],
  ['list', '200 missing fields', 1, 'ok', 1, 0],
  // get runs in post, before the delete: a failed read is a warning, the key is deleted anyway
  ['get', 'HTTP 500', 1, 'ok', 1, 0],
  ['get', 'reset before acting', 1, 'ok', 1, 0],
  ['get', 'no answer', 1, 'ok', 1, 0],
  ['get', 'malformed JSON', 1, 'ok', 1, 0],
  ['get', '200 missing fields', 1, 'ok', 1, 0],
  ['get', 'HTTP 503', 99, 'ok', 1, 0],
  ['delete', 'HTTP 500', 1, 'ok', 1, 0],
  ['delete', 'HTTP 503', 1, 'ok', 1, 0],
  ['delete', '429 + Retry-After', 1, 'ok', 1, 0],
  ['delete', '429 alone', 1, 'ok', 1, 0],
  ['delete', 'reset before acting', 1, 'ok', 1, 0],
  ['delete', 'reset after acting', 1, 'ok', 1, 0],
  ['delete', 'no answer', 1, 'ok', 1, 0],
  ['delete', 'malformed JSON', 1, 'ok', 1, 0],
  ['delete', '200 missing fields', 1, 'ok', 1, 0],
  // faults that do not pass: main gives up and leaves nothing; a delete Venice never accepts is warned about
  ['create', 'HTTP 503', 99, 'fails', 0, 0],
  ['create', 'reset after acting', 99, 'fails', 0, 0],
  ['create', 'no answer', 99, 'fails', 0, 0],
  ['verify', 'HTTP 500', 99, 'fails', 0, 0],
  ['delete', 'HTTP 503', 99, 'ok', 1, 1],
];

test.concurrent.each(MATRIX)(
  '%s × %s (%i×): main %s, %i live after main, %i after post',
  async (call, faultName, times, mainOutcome, liveAfterMain, liveAfterPost) => {
    const venice = await new VeniceServer().start();
    try {
      const inputs = { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, timeout: '20s' };
      if (call === 'list') venice.inject('create', { kind: 'reset-after' });
      venice.inject(call, FAULTS[faultName], times);
      const delays: number[] = [];

      const main = await mainInProcess({ inputs, delays });
      expect(main.exitCode, main.stdout).toBe(mainOutcome === 'ok' ? 0 : 1);
      const live = venice.liveKeys().map((key) => key.id);
      expect(live).toHaveLength(liveAfterMain);
      if (mainOutcome === 'ok') expect(live).toEqual([main.outputs['key-id']]);
      if (mainOutcome === 'fails') expect(main.outputs).toEqual({});

      const post = await postInProcess({ inputs, state: main.state, delays });
      expect(post.exitCode).toBe(0);
      expect(venice.liveKeys()).toHaveLength(liveAfterPost);
      if (liveAfterPost > 0) expect(post.warnings.join('\n')).toContain(main.outputs['key-id']);

      if (FAULTS[faultName].kind === 'status' && 'retryAfter' in FAULTS[faultName]) {
        expect(Math.max(...delays)).toBeGreaterThanOrEqual(1_000); // Retry-After: 1 was honoured
      }
      // Only 429s and the injected faults may fail: never a 4xx that burns the admin key's error budget.
      // (a delete retried after Venice acted finds the key gone: that one 400 is expected)
      expect(venice.failedRequests()).toBeLessThanOrEqual(call === 'delete' && liveAfterPost === 0 ? 1 : 0);
      expectNoLeaks(venice);
    } finally {
      await venice.stop();
    }
  },
);
