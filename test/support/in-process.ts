// Runs the steps in this process against the loopback servers, with an in-memory IO, a fast retry
// policy and (optionally) a virtual clock, for tests that need many runs (fault matrix, property tests,
// the matrix at Venice's real limit) and for coverage of src/. It renders what index.ts prints, with
// the same escaping, so the runner-log port and the leak scan read it as they read a real step.

import { newInvocationToken } from '../../core/description-tag.ts';
import type { RetryPolicy } from '../../core/retry.ts';
import { runnerInputs, type StepResult, stepsRun } from '../../fakes/runner.ts';
import { readRunnerLog } from '../../fakes/runner-log.ts';
import type { ActionIO } from '../../src/runner/action-io.ts';
import { escapeData } from '../../src/runner/runner-commands.ts';
import { type CancelSignals, runMainStep, runPostStep } from '../../src/steps.ts';
import { fastPolicy } from '../../testkit/fast-policy.ts';

export interface InProcessOptions {
  inputs: Record<string, string>;
  state?: Record<string, string>;
  env?: Record<string, string>;
  cancel?: CancelSignals;
  /** Every delay the retry policy asked for, in ms (the sleep itself is capped at `maxSleepMs`). */
  delays?: number[];
  maxSleepMs?: number;
  /** A whole policy (the virtual-clock matrix test); by default fastPolicy(delays, maxSleepMs). */
  policy?: RetryPolicy;
  now?: () => number;
  /** Make writing a file command fail, as a full disk would. */
  fail?: 'summary' | 'output';
  /** Called as each workflow command is issued, e.g. to cancel the job the moment a key is masked. */
  onCommand?: (command: string, data: string) => void;
}

/** What the step meant to issue as workflow commands, in order, beside the text it printed. */
export interface IntendedCommand {
  command: string;
  data: string;
}

class MemoryIO implements ActionIO {
  readonly lines: string[] = [];
  readonly intended: IntendedCommand[] = [];
  readonly outputs: Record<string, string> = {};
  readonly state: Record<string, string>;
  readonly env: Record<string, string> = {};
  summary = '';
  failed = false;
  constructor(
    state: Record<string, string>,
    private readonly failing?: 'summary' | 'output',
    private readonly onCommand?: (command: string, data: string) => void,
  ) {
    this.state = { ...state };
  }
  private issue(command: string, data: string): void {
    this.intended.push({ command, data });
    this.onCommand?.(command, data);
    this.lines.push(`::${command}::${escapeData(data)}`);
  }
  info = (message: string): void => void this.lines.push(message);
  warning = (message: string): void => this.issue('warning', `venice-ephemeral-key: ${message}`);
  debug = (message: string): void => this.issue('debug', message);
  setSecret = (secret: string): void => this.issue('add-mask', secret);
  setOutput = (name: string, value: string): void => {
    if (this.failing === 'output') throw new Error('ENOSPC: no space left on device, write');
    this.outputs[name] = value;
  };
  saveState = (name: string, value: string): void => {
    this.state[name] = value;
  };
  getState = (name: string): string => this.state[name] ?? '';
  exportVariable = (name: string, value: string): void => {
    this.env[name] = value;
  };
  appendSummary = async (markdown: string): Promise<void> => {
    if (this.failing === 'summary') throw new Error('ENOSPC: no space left on device, write');
    this.summary += markdown;
  };
  group = async <T>(name: string, phase: () => Promise<T>): Promise<T> => {
    this.issue('group', name);
    try {
      return await phase();
    } finally {
      this.issue('endgroup', '');
    }
  };
  setFailed = (message: string): void => {
    this.failed = true;
    this.issue('error', `venice-ephemeral-key: ${message}`);
  };
}

export interface InProcessResult extends StepResult {
  intended: IntendedCommand[];
}

/** The environment the runner gives every step (as runner.ts sets it for dist/). */
export const RUNNER_ENV = {
  GITHUB_REPOSITORY: 'octo-org/shop',
  GITHUB_RUN_ID: '18234567890',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_JOB: 'build',
  // A closed loopback port unless a test gives its GitHub server.
  GITHUB_API_URL: 'http://127.0.0.1:9',
};

async function runInProcess(entry: 'main' | 'post', options: InProcessOptions): Promise<InProcessResult> {
  const io = new MemoryIO(options.state ?? {}, options.fail, options.onCommand);
  const inputs = runnerInputs(options.inputs);
  const never = new AbortController().signal;
  const step = {
    io,
    readInput: (name: string) => {
      if (!(name in inputs)) throw new Error(`input '${name}' is not declared in action.yml`);
      return inputs[name]!;
    },
    env: { ...RUNNER_ENV, ...options.env },
    policy: options.policy ?? fastPolicy(options.delays, options.maxSleepMs),
    now: options.now ?? Date.now,
    cancel: options.cancel ?? { signal: never, settleSignal: never },
    newToken: newInvocationToken,
  };
  await (entry === 'main' ? runMainStep(step) : runPostStep(step));
  const stdout = io.lines.join('\n');
  const { commands } = readRunnerLog(stdout);
  const result: InProcessResult = {
    entry,
    exitCode: io.failed ? 1 : 0,
    signal: null,
    stdout,
    stderr: '',
    outputs: io.outputs,
    state: io.state,
    env: io.env,
    summary: io.summary,
    commands,
    errors: commands.filter((c) => c.command === 'error').map((c) => c.data),
    warnings: commands.filter((c) => c.command === 'warning').map((c) => c.data),
    durationMs: 0,
    intended: io.intended,
  };
  stepsRun.push(result);
  return result;
}

export const mainInProcess = (options: InProcessOptions): Promise<InProcessResult> => runInProcess('main', options);
export const postInProcess = (options: InProcessOptions): Promise<InProcessResult> => runInProcess('post', options);
