import * as core from '@actions/core';
import type { ActionIO } from './action-io.js';
import { cleanUp } from './cleanup.js';
import { Deadline } from './deadline.js';
import { newInvocationToken } from './description-tag.js';
import { ACTION_NAME, ActionFailure, InputErrors, messageOf } from './errors.js';
import { readConfig, type Config } from './inputs.js';
import { mintKey } from './mint.js';
import { defaultRetryPolicy } from './retry.js';
import { readRunContext } from './run-context.js';
import { VeniceClient } from './venice-client.js';

/**
 * The action's wiring: real collaborators (@actions/core, the clock, process signals) handed to the
 * logic modules. dist/main.js and dist/post.js are two-line entries that call into this one bundle.
 */

/** After SIGINT the runner sends SIGTERM at 7.5 s and kills at 10 s; a create in flight gets this long to settle. */
export const CANCEL_GRACE_MS = 5_000;

const io: ActionIO = {
  info: core.info,
  warning: (message) => core.warning(`${ACTION_NAME}: ${message}`),
  debug: core.debug,
  setSecret: core.setSecret,
  setOutput: core.setOutput,
  saveState: core.saveState,
  getState: core.getState,
  exportVariable: core.exportVariable,
  appendSummary: async (markdown) => {
    if (!process.env.GITHUB_STEP_SUMMARY) return; // outside a runner there is no summary to write
    await core.summary.addRaw(markdown, true).write();
  },
  setFailed: (message) => core.setFailed(`${ACTION_NAME}: ${message}`),
};

export async function runMain(): Promise<void> {
  maskAdminKey();
  const cancel = watchForCancel();
  try {
    const config = readInputs();
    const context = readRunContext(process.env);
    const client = veniceClient(config, cancel);
    await mintKey(config, {
      io,
      client,
      context,
      token: newInvocationToken(),
      now: Date.now,
      isCancelled: () => cancel.signal.aborted,
    });
  } catch (error) {
    fail(error, cancel.signal.aborted);
  } finally {
    cancel.dispose();
  }
}

export async function runPost(): Promise<void> {
  maskAdminKey();
  const cancel = watchForCancel();
  try {
    await cleanUp({ io, now: Date.now, loadConfig: readInputs, connect: (config) => veniceClient(config, cancel) });
  } catch (error) {
    fail(error, cancel.signal.aborted);
  } finally {
    cancel.dispose();
  }
}

/** First thing each step does: nothing can print the admin key after this. */
function maskAdminKey(): void {
  const adminKey = core.getInput('admin-key').trim();
  if (adminKey) core.setSecret(adminKey);
}

function readInputs(): Config {
  return readConfig((name) => core.getInput(name));
}

function veniceClient(config: Config, cancel: CancelWatch): VeniceClient {
  return new VeniceClient({
    apiUrl: config.apiUrl,
    adminKey: config.adminKey,
    deadline: new Deadline(config.timeoutMs),
    policy: defaultRetryPolicy,
    log: core.info,
    signal: cancel.signal,
    settleSignal: cancel.settleSignal,
  });
}

function fail(error: unknown, cancelled: boolean): void {
  if (cancelled) {
    core.setFailed(`${ACTION_NAME}: the job was cancelled; any key this step created is deleted by its post step.`);
  } else if (error instanceof InputErrors || error instanceof ActionFailure) {
    core.setFailed(`${ACTION_NAME}: ${error.message}`);
  } else {
    // Not a user mistake: a bug. The stack goes to the debug log, which is hidden unless asked for.
    core.debug(error instanceof Error ? (error.stack ?? error.message) : String(error));
    core.setFailed(`${ACTION_NAME}: unexpected error: ${messageOf(error)}. Please report it with the debug log.`);
  }
}

interface CancelWatch {
  signal: AbortSignal;
  settleSignal: AbortSignal;
  dispose(): void;
}

/** SIGINT/SIGTERM from a cancelled job: stop waiting at once; let a create or delete in flight settle briefly. */
function watchForCancel(): CancelWatch {
  const cancel = new AbortController();
  const settle = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (cancel.signal.aborted) {
      settle.abort(); // a second signal (SIGTERM) means the runner is about to kill us
      return;
    }
    core.info(`Received ${signal}: the job is being cancelled.`);
    cancel.abort();
    setTimeout(() => settle.abort(), CANCEL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: cancel.signal,
    settleSignal: settle.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
