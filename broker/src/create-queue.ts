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

/**
 * Venice counts a create when it arrives, a moment after the broker's turn began (the list before it,
 * the network): a turn starts this much after the window reopens, so the 21st create is not counted in
 * the first window. Measured without it, one create in thirty met a 429 (npm run bench).
 */
const ARRIVAL_MARGIN_MS = 1_000;

export class CreateQueue {
  /** The last `perWindow` turns handed out, in order; a new turn comes a window after the oldest. */
  private readonly turns: number[] = [];

  private readonly options: CreateQueueOptions;

  constructor(options: CreateQueueOptions) {
    this.options = options;
  }

  async take(signal?: AbortSignal): Promise<void> {
    const { perWindow, windowMs, timeoutMs, now } = this.options;
    const at = now();
    const turn =
      this.turns.length < perWindow
        ? at
        : Math.max(at, (this.turns[this.turns.length - perWindow] as number) + windowMs + ARRIVAL_MARGIN_MS);
    if (turn - at > timeoutMs) throw new QueueFull(turn - at - timeoutMs);
    this.turns.push(turn);
    if (this.turns.length > perWindow) this.turns.shift();
    // A caller that gives up while waiting keeps its turn: the window stays honest, at the cost of one slot.
    if (turn > at) await this.options.sleep(turn - at, signal);
  }
}
