// The step's time budget (input `timeout`), with a reserve kept for cleaning up.
import { formatDuration } from './duration.js';
import { ActionFailure } from './errors.js';

/**
 * The step's whole budget for waiting and retrying (input `timeout`). Part of it is held back so that,
 * when the work gives up, there is still time to delete what it may have made.
 */
export class Deadline {
  constructor(
    readonly totalMs: number,
    private readonly now: () => number = Date.now,
    private readonly reserveMs = 0,
    private readonly endsAt = now() + totalMs,
  ) {}

  /** For a step's work: a fifth of the budget (at most 15 s) is kept for cleaning up. */
  static forStep(totalMs: number, now: () => number = Date.now): Deadline {
    return new Deadline(totalMs, now, Math.min(15_000, totalMs / 5));
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - this.reserveMs - this.now());
  }

  /** The same end, with nothing held back: for the clean-up after the work gave up. */
  forCleanup(): Deadline {
    return new Deadline(this.totalMs, this.now, 0, this.endsAt);
  }

  /** The failure for a step that ran out of time, naming what it was waiting for. */
  exceeded(waitingFor: string, lastProblem?: string): ActionFailure {
    const last = lastProblem ? ` The last attempt failed with: ${lastProblem}.` : '';
    return new ActionFailure(
      `gave up after the step's timeout of ${formatDuration(this.totalMs)} while waiting for ${waitingFor}.${last} ` +
        'Raise the `timeout` input if Venice is slow or many jobs mint at once.',
    );
  }
}
