/**
 * The main and post steps with every collaborator passed in: index.ts hands over the runner's workflow
 * commands, the real clock and process signals; tests hand over an in-memory IO, a fast retry policy
 * and, for the matrix test, a virtual clock.
 */

import { Deadline } from '../core/deadline.js';
import { ActionFailure, InputError, InputErrors, messageOf } from '../core/errors.js';
import { createTransport, type HttpTransport } from '../core/http.js';
import type { ReadInput } from '../core/key-request.js';
import type { RetryPolicy } from '../core/retry.js';
import { VeniceClient } from '../core/venice-client.js';
import { directBackend } from './backends/direct.js';
import type { KeyBackend } from './backends/key-backend.js';
import { type GitHubApi, gitHubApi } from './github/github-api.js';
import { cleanUp } from './modes/cleanup.js';
import { mintKey } from './modes/mint.js';
import { revoke } from './modes/revoke.js';
import { sweep } from './modes/sweep.js';
import { useRunKey } from './modes/use-key.js';
import type { ActionIO } from './runner/action-io.js';
import { type Config, readConfig } from './runner/inputs.js';
import { pullRequestFor, type RunContext, readRunContext } from './runner/run-context.js';
import { adviceForWorkflow, BROKER_STEP_DEADLINE, VENICE_STEP_DEADLINE } from './runner/venice-advice.js';

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
    checkAgainstRun(config, context);
    let gitHub: GitHubApi | undefined; // made on first use: most runs never ask GitHub
    const deps = {
      io: step.io,
      client: veniceClient(config, step),
      context,
      now: step.now,
      gitHub: () => {
        gitHub ??= gitHubApi({
          token: config.githubToken,
          repository: context.repository,
          apiUrl: context.githubApiUrl,
          signal: step.cancel.signal,
        });
        return gitHub;
      },
    };
    const backend = await keyBackend(config, step, context, deps.client);
    const isCancelled = (): boolean => step.cancel.signal.aborted;
    if (config.mode === 'use') return await useRunKey(config, { ...deps, backend });
    if (config.mode === 'revoke') return await revoke(config, { ...deps, backend });
    if (config.mode === 'sweep') return await sweep(config, { ...deps, backend });
    await mintKey(config, { ...deps, backend, isCancelled });
  } catch (error) {
    fail(step, error);
  }
}

/** Inputs that only the run can refute, checked before any request like the others. */
function checkAgainstRun(config: Config, context: RunContext): void {
  if (config.mode === 'mint' && config.scope === 'pr' && pullRequestFor(config, context) === undefined) {
    throw new InputErrors([
      new InputError(
        'scope',
        `is pr, but this ${context.eventName || 'run'} event has no pull request. Run it on a pull_request event, ` +
          'or set `pr-number`, e.g. `pr-number: ${{ github.event.pull_request.number }}`; for other events use `scope: job`.',
      ),
    ]);
  }
}

export async function runPostStep(step: StepEnvironment): Promise<void> {
  maskSecrets(step);
  try {
    await cleanUp({
      io: step.io,
      now: step.now,
      sleep: (ms) => step.policy.sleep(ms, step.cancel.signal),
      context: () => readRunContext(step.env),
      loadConfig: () => readConfig(step.readInput),
      keyBackend: (config) => keyBackend(config, step, readRunContext(step.env)),
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

/** The step's one transport: the Venice client and the broker client share its sockets. */
const transports = new WeakMap<StepEnvironment, HttpTransport>();
function transportOf(step: StepEnvironment): HttpTransport {
  let transport = transports.get(step);
  if (!transport) {
    transport = createTransport(step.env);
    transports.set(step, transport);
  }
  return transport;
}

/**
 * The one place that chooses where keys are made and ended: with broker-url, the broker (its client and
 * the OIDC request are loaded then, from their own chunk: a workflow with an admin key never pays for
 * them at start-up); else Venice, directly, with the admin key.
 */
async function keyBackend(
  config: Config,
  step: StepEnvironment,
  context: RunContext,
  // One client (and so one deadline) for the step: main's verify shares the direct path's.
  client = veniceClient(config, step),
): Promise<KeyBackend> {
  if (!config.brokerUrl) {
    return directBackend({ io: step.io, client, context, now: step.now, adminKey: config.adminKey, newToken: step.newToken });
  }
  const { brokerBackend } = await import('./backends/broker/broker-backend.js');
  return brokerBackend({
    brokerUrl: config.brokerUrl,
    audience: config.brokerAudience,
    env: step.env,
    transport: transportOf(step),
    deadline: Deadline.forStep(config.timeoutMs, step.now, BROKER_STEP_DEADLINE),
    policy: step.policy,
    io: step.io,
    context,
    signal: step.cancel.signal,
  });
}

function veniceClient(config: Config, step: StepEnvironment): VeniceClient {
  return new VeniceClient({
    apiUrl: config.apiUrl,
    adminKey: config.adminKey,
    transport: transportOf(step),
    deadline: Deadline.forStep(config.timeoutMs, step.now, VENICE_STEP_DEADLINE),
    policy: step.policy,
    log: step.io.info,
    signal: step.cancel.signal,
    settleSignal: step.cancel.settleSignal,
    advise: adviceForWorkflow,
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
