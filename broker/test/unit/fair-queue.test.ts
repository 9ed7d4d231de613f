// The fair create queue on a virtual clock: turns at Venice's rate, served round-robin between
// repositories (never first come, first served), a caller that leaves gives its turn back, and a place
// whose turn would come past the queue timeout is refused at once with the wait before the next.
import { expect, test } from 'vitest';
import { FairQueue, LeftQueue, QueueFull } from '../../src/state/fair-queue.ts';

/**
 * A virtual clock for the queue alone: time jumps to the earliest sleeper's wake-up only when nothing
 * else is left to run (setImmediate comes after every pending promise), and a sleep ends early when
 * its signal aborts, as the broker's real sleep does.
 */
function virtualTime(start = 0) {
  let now = start;
  let sleepers: { at: number; wake: () => void }[] = [];
  let scheduled = false;
  const advance = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (sleepers.length === 0) return;
      const at = Math.min(...sleepers.map((sleeper) => sleeper.at));
      now = Math.max(now, at);
      const due = sleepers.filter((sleeper) => sleeper.at <= now);
      sleepers = sleepers.filter((sleeper) => sleeper.at > now);
      for (const sleeper of due) sleeper.wake();
    });
  };
  return {
    now: () => now,
    sleep: (ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        const sleeper = { at: now + ms, wake: resolve };
        sleepers.push(sleeper);
        signal?.addEventListener('abort', () => {
          sleepers = sleepers.filter((other) => other !== sleeper);
          resolve();
          advance();
        });
        advance();
      }),
  };
}

const WINDOW = 60_000;

test('turns are shared round-robin: 50 of one repository queued first cannot hold back 10 of another', async () => {
  const time = virtualTime();
  const queue = new FairQueue({ perWindow: 20, windowMs: WINDOW, timeoutMs: 10 * WINDOW, now: time.now, sleep: time.sleep });
  const served: { repository: string; at: number }[] = [];
  const mint = (repository: string) => {
    const ticket = queue.admit(repository);
    return queue.take(ticket).then(() => served.push({ repository, at: time.now() }));
  };
  const big = Array.from({ length: 50 }, () => mint('big'));
  const small = Array.from({ length: 10 }, () => mint('small'));
  await Promise.all([...big, ...small]);
  const smallTurns = served.filter((turn) => turn.repository === 'small').map((turn) => turn.at);
  // First come, first served would put them in the third window; round-robin serves them in the first two.
  expect(Math.max(...smallTurns)).toBeLessThan(2 * WINDOW);
  // Never more than 20 turns in any window.
  const times = served.map((turn) => turn.at).sort((a, b) => a - b);
  for (let i = 20; i < times.length; i++) expect((times[i] as number) - (times[i - 20] as number)).toBeGreaterThanOrEqual(WINDOW);
});

test('a caller that leaves gives its turn back; a place past the timeout is refused with the wait', async () => {
  const time = virtualTime();
  const queue = new FairQueue({ perWindow: 1, windowMs: WINDOW, timeoutMs: 3 * WINDOW, now: time.now, sleep: time.sleep });
  await queue.take(queue.admit('a')); // the window's one turn, at once
  const leaving = new AbortController();
  const left = queue.take(queue.admit('a'), leaving.signal); // its turn would be at 61 s
  const next = queue.take(queue.admit('a')); // 122 s
  // The next place's turn would be at 183 s (each turn a window and a second after the last), past
  // the three-window timeout: refused at once, told to come back when that turn is within it.
  const full = (() => {
    try {
      queue.admit('a');
    } catch (error) {
      return error;
    }
  })();
  expect(full).toBeInstanceOf(QueueFull);
  expect((full as QueueFull).retryAfterMs).toBe(3 * (WINDOW + 1_000) - 3 * WINDOW);
  leaving.abort();
  await expect(left).rejects.toThrow(LeftQueue);
  await next;
  expect(time.now()).toBe(WINDOW + 1_000); // the turn the leaver gave back
  // A place given back before its take (the caller was refused after admission) holds up no one.
  const refused = queue.admit('b');
  refused.leave();
  const after = queue.take(queue.admit('b'));
  await after;
  expect(time.now()).toBe(2 * (WINDOW + 1_000));
});

test('a place given back before its caller takes it cannot be taken afterwards', async () => {
  const time = virtualTime();
  const queue = new FairQueue({ perWindow: 1, windowMs: WINDOW, timeoutMs: WINDOW, now: time.now, sleep: time.sleep });
  const ticket = queue.admit('a');
  ticket.leave();
  await expect(queue.take(ticket)).rejects.toThrow(LeftQueue);
  // The turn it did not use is still there for the next caller.
  await queue.take(queue.admit('b'));
  expect(time.now()).toBe(0);
});
