import { formatDuration } from './duration.js';
import { ActionFailure } from './errors.js';

/** The step's whole budget for waiting and retrying (input `timeout`). */
export class Deadline {
  private readonly endsAt: number;

  constructor(
    readonly totalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.endsAt = now() + totalMs;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - this.now());
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
