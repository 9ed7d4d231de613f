/**
 * What the action's logic needs from the runner: logs, masks, outputs, state, env and the job summary.
 * index.ts implements it with the runner's workflow commands; the logic never touches process.env or
 * stdout directly. Text that the action did not write itself goes through safe-text.ts first.
 */
export interface ActionIO {
  info(message: string): void;
  warning(message: string): void;
  debug(message: string): void;
  setSecret(secret: string): void;
  setOutput(name: string, value: string): void;
  saveState(name: string, value: string): void;
  getState(name: string): string;
  exportVariable(name: string, value: string): void;
  appendSummary(markdown: string): Promise<void>;
  setFailed(message: string): void;
  /** A foldable group in the log around one phase of the step. */
  group<T>(name: string, phase: () => Promise<T>): Promise<T>;
}

/** Names in GITHUB_STATE shared by main and post. */
export const STATE = {
  /** The minting invocation's tag, saved before the create is sent. */
  tag: 'invocation-tag',
  keyId: 'key-id',
  expiresAt: 'expires-at',
  /** "false" once main succeeded with a key that is not the job's to delete (run, pr, skip-delete). */
  deleteInPost: 'delete-in-post',
  /** Epoch ms until which a create sent by main may still land (main was cancelled or lost the answer). */
  createPendingUntil: 'create-pending-until',
} as const;
