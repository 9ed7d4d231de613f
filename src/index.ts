/**
 * The action's wiring: the real collaborators (the runner's workflow commands, the clock, process
 * signals) handed to the steps. dist/main.js and dist/post.js are two-line entries that call into this
 * one bundle.
 */

import { newInvocationToken } from '../core/description-tag.js';
import { defaultRetryPolicy } from '../core/retry.js';
import type { ActionIO } from './runner/action-io.js';
import * as runner from './runner/runner-commands.js';
import { type CancelSignals, runMainStep, runPostStep, type StepEnvironment } from './steps.js';

/** Every message the action prints on failure starts with its name, so it stands out in a long log. */
const ACTION_NAME = 'venice-ephemeral-key';

/** After SIGINT the runner sends SIGTERM at 7.5 s and kills at 10 s; a create in flight gets this long to settle. */
export const CANCEL_GRACE_MS = 5_000;

const io: ActionIO = {
  info: runner.info,
  warning: (message) => runner.issueCommand('warning', `${ACTION_NAME}: ${message}`),
  debug: (message) => runner.issueCommand('debug', message),
  setSecret: (secret) => runner.issueCommand('add-mask', secret),
  setOutput: runner.setOutput,
  saveState: runner.saveState,
  getState: runner.getState,
  exportVariable: runner.exportVariable,
  appendSummary: async (markdown) => runner.appendSummary(`${markdown}\n`),
  setFailed: (message) => {
    process.exitCode = 1;
    runner.issueCommand('error', `${ACTION_NAME}: ${message}`);
  },
  group: async (name, phase) => {
    runner.issueCommand('group', name);
    try {
      return await phase();
    } finally {
      runner.issueCommand('endgroup', '');
    }
  },
};

export async function runMain(): Promise<void> {
  await withCancelWatch((cancel) => runMainStep(environment(cancel)));
}

export async function runPost(): Promise<void> {
  await withCancelWatch((cancel) => runPostStep(environment(cancel)));
}

function environment(cancel: CancelSignals): StepEnvironment {
  return {
    io,
    readInput: (name) => runner.getInput(name),
    env: process.env,
    policy: defaultRetryPolicy,
    now: Date.now,
    cancel,
    newToken: newInvocationToken,
  };
}

/**
 * The signals a cancelled job's step gets: on Linux and macOS SIGINT then SIGTERM; on Windows the runner
 * sends a console Ctrl-C then Ctrl-Break, which Node delivers as SIGINT and SIGBREAK. The first stops all
 * waiting at once; a create or delete in flight gets a moment to settle; the second ends that moment.
 */
const CANCEL_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGBREAK'];

async function withCancelWatch(step: (cancel: CancelSignals) => Promise<void>): Promise<void> {
  const cancel = new AbortController();
  const settle = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (cancel.signal.aborted) {
      settle.abort(); // a second signal (SIGTERM, SIGBREAK) means the runner is about to kill us
      return;
    }
    runner.info(`Received ${signal}: the job is being cancelled.`);
    cancel.abort();
    setTimeout(settle.abort.bind(settle), CANCEL_GRACE_MS).unref();
  };
  for (const signal of CANCEL_SIGNALS) process.on(signal, onSignal);
  try {
    await step({ signal: cancel.signal, settleSignal: settle.signal });
  } finally {
    for (const signal of CANCEL_SIGNALS) process.off(signal, onSignal);
  }
}
