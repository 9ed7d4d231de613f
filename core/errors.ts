// The kinds of failure core reports (each program words and shows them: the action's index.ts prefixes its
// name, the broker answers in JSON).

/**
 * A mistake in a value someone wrote: one clear error, never with a stack trace. The field and the detail
 * are kept apart so each program names the field its own way (the action: "input 'usd-limit'"; the
 * broker: "field 'usd-limit'"); the message is the action's wording.
 */
export class InputError extends Error {
  constructor(
    readonly input: string,
    readonly detail: string,
  ) {
    super(`input '${input}': ${detail}`);
    this.name = 'InputError';
  }
}

/** Several bad inputs are reported together, so one run shows every mistake. */
export class InputErrors extends Error {
  constructor(readonly errors: InputError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'InputErrors';
  }
}

/** A failure the action explains itself (Venice said no, the deadline passed, the job was cancelled). */
export class ActionFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ActionFailure';
  }
}

/** The text to show for any error: our own messages as they are, anything unexpected by its message only. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
