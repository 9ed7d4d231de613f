// Runs the steps in this process against the loopback server, with an in-memory IO and a fast retry
// policy, for tests that need many runs (fault matrix, property tests) and for coverage of src/.
// It renders what @actions/core would print, so the same leak scan applies.
import type { ActionIO } from '../../src/action-io.ts';
import { newInvocationToken } from '../../src/description-tag.ts';
import type { RetryPolicy } from '../../src/retry.ts';
import { type CancelSignals, runMainStep, runPostStep } from '../../src/steps.ts';
import { runnerInputs, type StepResult } from './runner.ts';

export interface InProcessOptions {
  inputs: Record<string, string>;
  state?: Record<string, string>;
  env?: Record<string, string>;
  cancel?: CancelSignals;
  /** Every delay the retry policy asked for, in ms (the sleep itself is capped at `maxSleepMs`). */
  delays?: number[];
  maxSleepMs?: number;
  /** Make writing a file command fail, as a full disk would. */
  fail?: 'summary' | 'output';
}

/** Backoff as in production, but real sleeps capped, so tests do not wait for Retry-After in full. */
export function fastPolicy(delays: number[] = [], maxSleepMs = 20): RetryPolicy {
  return {
    maxAttempts: 8,
    baseDelayMs: 500,
    maxDelayMs: 15_000,
    random: Math.random,
    sleep: async (ms, signal) => {
      delays.push(ms);
      signal?.throwIfAborted();
      await new Promise((done) => setTimeout(done, Math.min(ms, maxSleepMs)));
    },
  };
}

class MemoryIO implements ActionIO {
  readonly lines: string[] = [];
  readonly outputs: Record<string, string> = {};
  readonly state: Record<string, string>;
  readonly env: Record<string, string> = {};
  summary = '';
  failed = false;
  constructor(
    state: Record<string, string>,
    private readonly failing?: 'summary' | 'output',
  ) {
    this.state = { ...state };
  }
  info = (message: string): void => void this.lines.push(message);
  warning = (message: string): void => void this.lines.push(`::warning::${escapeCommand(`venice-ephemeral-key: ${message}`)}`);
  debug = (message: string): void => void this.lines.push(`::debug::${escapeCommand(message)}`);
  setSecret = (secret: string): void => void this.lines.push(`::add-mask::${secret}`);
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
    this.lines.push(`::group::${name}`);
    try {
      return await phase();
    } finally {
      this.lines.push('::endgroup::');
    }
  };
  setFailed = (message: string): void => {
    this.failed = true;
    this.lines.push(`::error::${escapeCommand(`venice-ephemeral-key: ${message}`)}`);
  };
}

function escapeCommand(message: string): string {
  return message.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

async function runInProcess(entry: 'main' | 'post', options: InProcessOptions): Promise<StepResult> {
  const io = new MemoryIO(options.state ?? {}, options.fail);
  const inputs = runnerInputs(options.inputs);
  const never = new AbortController().signal;
  const step = {
    io,
    readInput: (name: string) => {
      if (!(name in inputs)) throw new Error(`input '${name}' is not declared in action.yml`);
      return inputs[name]!;
    },
    // GITHUB_API_URL points at a closed loopback port unless a test gives its GitHub server.
    env: {
      GITHUB_REPOSITORY: 'octo-org/shop',
      GITHUB_RUN_ID: '18234567890',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_API_URL: 'http://127.0.0.1:9',
      ...options.env,
    },
    policy: fastPolicy(options.delays, options.maxSleepMs),
    now: Date.now,
    cancel: options.cancel ?? { signal: never, settleSignal: never },
    newToken: newInvocationToken,
  };
  await (entry === 'main' ? runMainStep(step) : runPostStep(step));
  const stdout = io.lines.join('\n');
  return {
    entry,
    exitCode: io.failed ? 1 : 0,
    signal: null,
    stdout,
    stderr: '',
    outputs: io.outputs,
    state: io.state,
    env: io.env,
    summary: io.summary,
    commands: [],
    errors: io.lines.filter((l) => l.startsWith('::error::')).map((l) => l.slice('::error::'.length)),
    warnings: io.lines.filter((l) => l.startsWith('::warning::')).map((l) => l.slice('::warning::'.length)),
    durationMs: 0,
  };
}

export const mainInProcess = (options: InProcessOptions): Promise<StepResult> => runInProcess('main', options);
export const postInProcess = (options: InProcessOptions): Promise<StepResult> => runInProcess('post', options);
