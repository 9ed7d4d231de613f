import type { ActionIO } from './action-io.js';
import { cleanUp } from './cleanup.js';
import { Deadline } from './deadline.js';
import { ActionFailure, InputErrors, messageOf } from './errors.js';
import { gitHubPullRequests, type PullRequests } from './github-prs.js';
import { type Config, type ReadInput, readConfig } from './inputs.js';
import { mintKey } from './mint.js';
import { revokePrKeys, sweepClosedPrKeys } from './pr-keys.js';
import type { RetryPolicy } from './retry.js';
import { readRunContext } from './run-context.js';
import { VeniceClient } from './venice-client.js';

/**
 * The main and post steps with every collaborator passed in: index.ts hands over @actions/core, the
 * real clock and process signals; tests hand over an in-memory IO and a fast retry policy.
 */
export interface StepEnvironment {
  io: ActionIO;
  readInput: ReadInput;
  env: Record<string, string | undefined>;
  policy: RetryPolicy;
  now: () => number;
  cancel: CancelSignals;
  newToken: () => string;
}

export interface CancelSignals {
  /** Aborted when the job is cancelled: stop waiting. */
  signal: AbortSignal;
  /** Aborted a grace period later: a create or delete in flight must give up too. */
  settleSignal: AbortSignal;
}

export async function runMainStep(step: StepEnvironment): Promise<void> {
  maskSecrets(step);
  try {
    const config = readConfig(step.readInput);
    const context = readRunContext(step.env);
    let pullRequests: PullRequests | undefined; // made on first use: most runs never ask GitHub
    const deps = {
      io: step.io,
      client: veniceClient(config, step),
      context,
      pullRequests: () => {
        pullRequests ??= gitHubPullRequests(config.githubToken, context.repository, context.githubApiUrl, step.cancel.signal);
        return pullRequests;
      },
    };
    if (config.mode === 'revoke') return await revokePrKeys(config, deps);
    if (config.mode === 'sweep') return await sweepClosedPrKeys(config, deps);
    await mintKey(config, { ...deps, token: step.newToken(), now: step.now, isCancelled: () => step.cancel.signal.aborted });
  } catch (error) {
    fail(step, error);
  }
}

export async function runPostStep(step: StepEnvironment): Promise<void> {
  maskSecrets(step);
  try {
    await cleanUp({
      io: step.io,
      now: step.now,
      loadConfig: () => readConfig(step.readInput),
      connect: (config) => veniceClient(config, step),
    });
  } catch (error) {
    fail(step, error);
  }
}

/** First thing each step does: nothing can print the admin key (or the GitHub token) after this. */
function maskSecrets(step: StepEnvironment): void {
  for (const name of ['admin-key', 'github-token']) {
    const secret = step.readInput(name).trim();
    if (secret) step.io.setSecret(secret);
  }
}

function veniceClient(config: Config, step: StepEnvironment): VeniceClient {
  return new VeniceClient({
    apiUrl: config.apiUrl,
    adminKey: config.adminKey,
    deadline: Deadline.forStep(config.timeoutMs, step.now),
    policy: step.policy,
    log: step.io.info,
    signal: step.cancel.signal,
    settleSignal: step.cancel.settleSignal,
  });
}

function fail(step: StepEnvironment, error: unknown): void {
  if (step.cancel.signal.aborted) {
    step.io.setFailed('the job was cancelled; any key this step created is deleted by it or by its post step.');
  } else if (error instanceof InputErrors || error instanceof ActionFailure) {
    step.io.setFailed(error.message);
  } else {
    // Not a user mistake but a bug: the stack goes to the debug log, hidden unless asked for.
    step.io.debug(error instanceof Error ? (error.stack ?? error.message) : String(error));
    step.io.setFailed(`unexpected error: ${messageOf(error)}. Please report it with the debug log.`);
  }
}
