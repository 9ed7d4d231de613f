// A virtual clock for many in-process steps at once: time moves only when every step is asleep (in the
// retry policy's sleep) or finished, and then jumps straight to the earliest wake-up. A minute of
// rate-limit waiting takes milliseconds, and the outcome depends only on the requests and the seeded
// random numbers, never on how busy the machine is.
import { defaultRetryPolicy, type RetryPolicy } from '../core/retry.ts';

export class VirtualClock {
  now: number;
  private running: number;
  private readonly sleepers: { wakeAt: number; wake: () => void }[] = [];

  constructor(start: number, steps: number) {
    this.now = start;
    this.running = steps;
  }

  readonly read = (): number => this.now;

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.sleepers.push({ wakeAt: this.now + ms, wake });
      this.running--;
      this.advance();
    });
  }

  /** A step finished: it no longer holds time back. */
  stepDone(): void {
    this.running--;
    this.advance();
  }

  private advance(): void {
    if (this.running > 0 || this.sleepers.length === 0) return;
    this.sleepers.sort((a, b) => a.wakeAt - b.wakeAt);
    this.now = Math.max(this.now, this.sleepers[0]!.wakeAt);
    while (this.sleepers.length > 0 && this.sleepers[0]!.wakeAt <= this.now) {
      this.running++;
      this.sleepers.shift()!.wake();
    }
  }
}

/** A small seeded generator (mulberry32), so a matrix spreads its waits the same way every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The production policy's numbers on the virtual clock. */
export function virtualPolicy(clock: VirtualClock, random: () => number): RetryPolicy {
  return { ...defaultRetryPolicy, random, sleep: (ms) => clock.sleep(ms) };
}
