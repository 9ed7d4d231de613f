/**
 * Venice lets an account create 20 keys a minute, and the broker creates for every caller, so it hands
 * out turns to create: at most `perWindow` in any window. Turns are shared fairly between repositories:
 * waiting callers are served round-robin by repository (each repository with callers waiting gets one
 * turn in each round), never first-come-first-served, so one repository's burst cannot starve another.
 *
 * - `admit(repository)` estimates, without waiting, when a caller arriving now would get its turn, and
 *   throws QueueFull (with a Retry-After) when that is beyond the queue timeout; otherwise it holds the
 *   caller's place. The broker calls it before it spends anything on the mint (the Venice listing).
 * - `take(ticket, signal)` waits for the turn. A caller that hangs up (its signal aborts) leaves the
 *   queue and its turn goes to the next caller: an abandoned turn is never spent.
 * The turn times assume Venice's window as the broker counts it; callers that leave make the others'
 * turns come sooner.
 *
 * Written here rather than with a rate-limiting library: those answer "now or not", and the broker needs
 * callers to wait in a fair order for turns that open on Venice's window.
 */
export class QueueFull extends Error {
  constructor(readonly retryAfterMs: number) {
    super('the create queue is full');
    this.name = 'QueueFull';
  }
}

export class LeftQueue extends Error {
  constructor() {
    super('the caller left the queue');
    this.name = 'LeftQueue';
  }
}

export interface FairQueueOptions {
  perWindow: number;
  windowMs: number;
  timeoutMs: number;
  now: () => number;
  /** Sleeps; ends early (resolves or rejects) when `signal` aborts, if it can. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

import type { CreateQueue, Ticket } from './shared-state.js';

interface Waiter {
  repository: string;
  /** Arrival order, for ties. */
  seq: number;
  /** Whether its caller is waiting in `take` (else it only holds its place). */
  taking: boolean;
  /** Ends this waiter's sleep early, so it looks at its place again (someone ahead left). */
  wake: AbortController | undefined;
}

/**
 * Each waiting caller sleeps until the turn its place in the order gives it, then looks again: its
 * place moves when others join (a repository's first caller goes ahead of another's tenth) or leave
 * (everyone behind moves up, and is woken to see it). Each caller doing its own sleeping keeps the
 * queue on whatever clock the broker is given, a virtual one in tests included.
 */
export class FairQueue implements CreateQueue {
  /** Start times of the last `perWindow` turns handed out, in order. */
  private readonly turns: number[] = [];
  /** Waiters per repository, in arrival order. */
  private readonly waiting = new Map<string, Waiter[]>();
  /** When each repository was last served (a count of turns), for the round-robin order. */
  private readonly served = new Map<string, number>();
  private servedCount = 0;
  private arrivals = 0;
  private readonly options: FairQueueOptions;

  constructor(options: FairQueueOptions) {
    this.options = options;
  }

  /**
   * A place in the queue for a caller of `repository`, or QueueFull when the turn that place gives would
   * come beyond the timeout. Under round-robin, a caller with k callers of its own repository ahead of it
   * waits for those k and for up to k + 1 callers of each other repository. The place is held from here
   * (so callers arriving together see each other), and given back by `leave` or used by `take`.
   */
  admit(repository: string): Ticket & { waiter: Waiter } {
    const own = this.waiting.get(repository)?.length ?? 0;
    let ahead = own;
    for (const [other, list] of this.waiting) if (other !== repository) ahead += Math.min(list.length, own + 1);
    const wait = this.turnTime(ahead) - this.options.now();
    if (wait > this.options.timeoutMs) throw new QueueFull(wait - this.options.timeoutMs);
    const waiter: Waiter = { repository, seq: this.arrivals++, taking: false, wake: undefined };
    const list = this.waiting.get(repository);
    if (list) list.push(waiter);
    else this.waiting.set(repository, [waiter]);
    return {
      leave: () => {
        if (this.remove(waiter)) this.wakeAll();
      },
      waiter,
    };
  }

  /** Waits for the ticket's turn to create (at once when a turn is free and nobody is ahead). */
  async take(ticket: Ticket, signal?: AbortSignal): Promise<void> {
    const { now, windowMs } = this.options;
    const { waiter } = ticket as Ticket & { waiter: Waiter };
    waiter.taking = true;
    try {
      for (;;) {
        if (signal?.aborted) throw new LeftQueue();
        const index = this.order().indexOf(waiter);
        if (index < 0) throw new LeftQueue();
        const at = this.turnTime(index);
        // Only the head of the order takes a turn, so a caller asleep at the head is never overtaken.
        if (index === 0 && at <= now()) {
          this.remove(waiter);
          this.record(now());
          this.served.set(waiter.repository, ++this.servedCount);
          this.wakeAll(); // the next head may take the next turn now
          return;
        }
        waiter.wake = new AbortController();
        const stop = signal ? AbortSignal.any([signal, waiter.wake.signal]) : waiter.wake.signal;
        // Due but not the head: look again when the head has gone (it wakes everyone), or soon after.
        await this.options.sleep(Math.max(at - now(), windowMs / 1_200), stop).catch(() => undefined);
      }
    } finally {
      ticket.leave(); // it left without its turn: everyone behind it moves up (no-op once served)
    }
  }

  /** A turn for the warm pool, only when nobody waits and the window has one free now. */
  async takeIdle(): Promise<boolean> {
    if (this.waiting.size > 0 || this.turnTime(0) > this.options.now()) return false;
    this.record(this.options.now());
    return true;
  }

  /** A place for a mint admitted without one, as `admit` gives it; or how far past the timeout. */
  async join(repository: string, intent: Ticket['intent']): Promise<Ticket | { retryAfterMs: number }> {
    try {
      return Object.assign(this.admit(repository), { intent });
    } catch (error) {
      return { retryAfterMs: (error as QueueFull).retryAfterMs };
    }
  }

  depth(): number {
    let waiting = 0;
    for (const list of this.waiting.values()) waiting += list.length;
    return waiting;
  }

  async windowCreates(): Promise<number> {
    const since = this.options.now() - this.options.windowMs - arrivalMarginMs(this.options.windowMs);
    return this.turns.filter((at) => at > since).length;
  }

  async windowFreesInMs(): Promise<number> {
    const now = this.options.now();
    const span = this.options.windowMs + arrivalMarginMs(this.options.windowMs);
    const oldest = this.turns.find((at) => at > now - span);
    return oldest === undefined ? 0 : oldest + span - now;
  }

  /**
   * The callers waiting for a turn, in the order they will be served: rank by rank, least recently
   * served repository first. Places admitted but not yet taking (their mint is still checking the
   * listing) are left out, so a slow check holds up no one.
   */
  private order(): Waiter[] {
    const repositories = [...this.waiting]
      .map(([repository, list]) => [repository, list.filter((waiter) => waiter.taking)] as const)
      .filter(([, list]) => list.length > 0)
      .sort(
        ([a, first], [b, second]) =>
          (this.served.get(a) ?? -1) - (this.served.get(b) ?? -1) || (first[0] as Waiter).seq - (second[0] as Waiter).seq,
      );
    const order: Waiter[] = [];
    const count = repositories.reduce((sum, [, list]) => sum + list.length, 0);
    for (let rank = 0; order.length < count; rank++) {
      for (const [, list] of repositories) if (list[rank]) order.push(list[rank] as Waiter);
    }
    return order;
  }

  /** The start of the n-th turn from now (0: the next one), if nobody leaves. */
  private turnTime(n: number): number {
    const { perWindow, windowMs, now } = this.options;
    const margin = arrivalMarginMs(windowMs);
    const times = this.turns.slice(-perWindow);
    let at = now();
    for (let i = 0; i <= n; i++) {
      at = times.length < perWindow ? now() : Math.max(now(), (times[times.length - perWindow] as number) + windowMs + margin);
      times.push(at);
    }
    return at;
  }

  private record(at: number): void {
    this.turns.push(at);
    if (this.turns.length > this.options.perWindow) this.turns.shift();
  }

  private remove(waiter: Waiter): boolean {
    const list = this.waiting.get(waiter.repository);
    const index = list?.indexOf(waiter) ?? -1;
    if (!list || index < 0) return false;
    list.splice(index, 1);
    if (list.length === 0) this.waiting.delete(waiter.repository);
    return true;
  }

  private wakeAll(): void {
    for (const list of this.waiting.values()) for (const waiter of list) waiter.wake?.abort();
  }
}

/**
 * Venice counts a create when it arrives, a moment after the broker's turn began (the network): a turn
 * starts this much after the window reopens, so the 21st create is not counted in the first window.
 * Measured without it, one create in thirty met a 429 (npm run bench). A sixtieth of the window: 1 s.
 */
export function arrivalMarginMs(windowMs: number): number {
  return windowMs / 60;
}
