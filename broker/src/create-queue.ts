/**
 * Venice lets an account create 20 keys a minute. The broker creates for every caller, so it spaces its
 * creates itself: each caller reserves the first free turn (no more than `perWindow` turns in any
 * window) and sleeps until it, first come first served. Callers wait rather than fail; only when the
 * turn is further away than the queue timeout is the caller refused at once, told when to come back.
 * One broker instance knows only its own creates: run several, and give each its share of the limit
 * (limits.creates-per-minute), or Venice's 429s, which are waited out too, do the rest.
 */
export class QueueFull extends Error {
  constructor(readonly retryAfterMs: number) {
    super('the create queue is full');
    this.name = 'QueueFull';
  }
}

export interface CreateQueueOptions {
  perWindow: number;
  windowMs: number;
  timeoutMs: number;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class CreateQueue {
  /** The last `perWindow` turns handed out, in order; a new turn comes a window after the oldest. */
  private readonly turns: number[] = [];

  constructor(private readonly options: CreateQueueOptions) {}

  async take(signal?: AbortSignal): Promise<void> {
    const { perWindow, windowMs, timeoutMs, now } = this.options;
    const at = now();
    const turn = this.turns.length < perWindow ? at : Math.max(at, (this.turns[this.turns.length - perWindow] as number) + windowMs);
    if (turn - at > timeoutMs) throw new QueueFull(turn - at - timeoutMs);
    this.turns.push(turn);
    if (this.turns.length > perWindow) this.turns.shift();
    // A caller that gives up while waiting keeps its turn: the window stays honest, at the cost of one slot.
    if (turn > at) await this.options.sleep(turn - at, signal);
  }
}
