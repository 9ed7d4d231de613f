/**
 * What the action's logic needs from the runner: logs, masks, outputs, state, env and the job summary.
 * index.ts implements it with @actions/core; the logic never touches process.env or stdout directly.
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
  tag: 'invocation-tag',
  keyId: 'key-id',
  expiresAt: 'expires-at',
} as const;
