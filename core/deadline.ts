// A time budget for waiting and retrying, with a reserve kept for cleaning up. Each program words what
// running out of it means for its reader (the action: the `timeout` input; the broker: its own settings).
import { formatDuration } from './duration.js';
import { ActionFailure } from './errors.js';

/** What a program tells its reader when the budget runs out: who set it, and what to change. */
export interface DeadlineWording {
  /** e.g. "the step's timeout" or "the broker's venice-timeout". */
  budget: string;
  /** One sentence of advice, or '' for none. */
  advice: string;
}

const NEUTRAL: DeadlineWording = { budget: 'the time budget', advice: '' };

/** The budget ran out: a failure with the wording of the program that set it. */
export class DeadlineExceeded extends ActionFailure {
  constructor(message: string) {
    super(message);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * The whole budget for waiting and retrying (the action's `timeout` input; the broker's venice-timeout).
 * Part of it is held back so that, when the work gives up, there is still time to delete what it may
 * have made.
 */
export class Deadline {
  constructor(
    readonly totalMs: number,
    private readonly now: () => number = Date.now,
    private readonly reserveMs = 0,
    private readonly endsAt = now() + totalMs,
    private readonly wording: DeadlineWording = NEUTRAL,
  ) {}

  /** For a step's work: a fifth of the budget (at most 15 s) is kept for cleaning up. */
  static forStep(totalMs: number, now: () => number = Date.now, wording: DeadlineWording = NEUTRAL): Deadline {
    return new Deadline(totalMs, now, Math.min(15_000, totalMs / 5), now() + totalMs, wording);
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - this.reserveMs - this.now());
  }

  /** The same end, with nothing held back: for the clean-up after the work gave up. */
  forCleanup(): Deadline {
    return new Deadline(this.totalMs, this.now, 0, this.endsAt, this.wording);
  }

  /** The failure for work that ran out of time, naming what it was waiting for and the last problem met. */
  exceeded(waitingFor: string, lastProblem?: string): DeadlineExceeded {
    const last = lastProblem ? ` The last attempt failed with: ${lastProblem}.` : '';
    const advice = this.wording.advice ? ` ${this.wording.advice}` : '';
    return new DeadlineExceeded(
      `gave up after ${this.wording.budget} of ${formatDuration(this.totalMs)} while waiting for ${waitingFor}.${last}${advice}`,
    );
  }
}
