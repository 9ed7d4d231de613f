// Runs the committed dist/ the way the GitHub runner does: Node 24, INPUT_* for every input in
// action.yml with its default applied (hyphens kept in the name), fresh GITHUB_OUTPUT / GITHUB_STATE /
// GITHUB_ENV / GITHUB_STEP_SUMMARY files per step, STATE_* handed to post, and the cancel schedule
// (SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that). Stdout is parsed for workflow commands.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { type RunnerCommand, readRunnerLog } from './runner-log.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The real Node 24 the runner uses, installed by the `node` npm package. */
export const NODE24 = join(REPO, 'node_modules', 'node', 'bin', 'node');
const STEP_LIMIT_MS = 60_000;

export interface StepResult {
  entry: 'main' | 'post';
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  env: Record<string, string>;
  summary: string;
  /** The workflow commands the runner would process, read by the port of its parser (runner-log.ts). */
  commands: RunnerCommand[];
  errors: string[];
  warnings: string[];
  /** Wall time from spawn to exit, in ms (for the benchmark; tests never assert on it). */
  durationMs: number;
}

export interface StepOptions {
  inputs?: Record<string, string>;
  /** State from main, handed to post as STATE_*. */
  state?: Record<string, string>;
  /** Extra environment (GITHUB_*, proxies, RUNNER_DEBUG …). */
  env?: Record<string, string>;
  /** The event payload written to GITHUB_EVENT_PATH. */
  event?: { name: string; payload: unknown };
  /** Extra arguments for node before the entry file (the benchmark's RSS probe). */
  nodeArgs?: string[];
  /** Kill the step after this long (default 60 s): a hung step fails its test instead of hanging it. */
  limitMs?: number;
  /** A command the step runs under, e.g. ['unshare', '--net', '--'] for a network namespace of its own. */
  wrapper?: string[];
}

/** What `${{ github.token }}` evaluates to in the harness. */
export const TEST_GITHUB_TOKEN = 'ghs_harnessTokenForTests0123456789abcdef';

export interface RunningStep {
  child: ChildProcess;
  done: Promise<StepResult>;
  /** The runner's cancel: SIGINT now, SIGTERM after 7.5 s, SIGKILL 2.5 s later, unless it exits. */
  cancel(): void;
}

/** Every step run in this test file, for the leak scan that ends each scenario (bed.ts). */
export const stepsRun: StepResult[] = [];

export function actionInputs(): Record<string, { default?: string; required?: boolean }> {
  const action = parse(readFileSync(join(REPO, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }> };
  return action.inputs;
}

/**
 * Every input declared in action.yml as the runner passes it: the given value, else the default, with
 * `${{ github.token }}` evaluated. A given input that action.yml does not declare is a test mistake.
 */
export function runnerInputs(given: Record<string, string> = {}): Record<string, string> {
  const declared = actionInputs();
  for (const name of Object.keys(given)) {
    if (!(name in declared)) throw new Error(`input '${name}' is not declared in action.yml`);
  }
  return Object.fromEntries(
    Object.entries(declared).map(([name, spec]) => [
      name,
      (given[name] ?? spec.default ?? '').replace('${{ github.token }}', TEST_GITHUB_TOKEN),
    ]),
  );
}

export function startStep(entry: 'main' | 'post', options: StepOptions = {}): RunningStep {
  const dir = mkdtempSync(join(tmpdir(), `vek-${entry}-`));
  const files = {
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    GITHUB_EVENT_PATH: join(dir, 'event.json'),
  };
  for (const file of Object.values(files)) writeFileSync(file, '');
  writeFileSync(files.GITHUB_EVENT_PATH, JSON.stringify(options.event?.payload ?? {}));
  mkdirSync(join(dir, 'tmp'));

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'octo-org/shop',
    GITHUB_RUN_ID: '18234567890',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'build',
    GITHUB_EVENT_NAME: options.event?.name ?? 'push',
    GITHUB_API_URL: 'http://127.0.0.1:9/unused',
    RUNNER_TEMP: join(dir, 'tmp'),
    ...files,
    ...options.env,
  };
  // The runner sets every declared input as INPUT_<NAME>, upper-cased with hyphens kept.
  for (const [name, value] of Object.entries(runnerInputs(options.inputs))) env[`INPUT_${name.toUpperCase()}`] = value;
  for (const [name, value] of Object.entries(options.state ?? {})) env[`STATE_${name}`] = value;

  const startedAt = performance.now();
  const [command = NODE24, ...prefix] = options.wrapper ? [...options.wrapper, NODE24] : [NODE24];
  const child = spawn(command, [...prefix, ...(options.nodeArgs ?? []), join(REPO, 'dist', `${entry}.js`)], {
    env,
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timers: NodeJS.Timeout[] = [setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? STEP_LIMIT_MS)];

  const done = new Promise<StepResult>((resolveStep) => {
    child.on('close', (exitCode, signal) => {
      const durationMs = performance.now() - startedAt;
      for (const timer of timers) clearTimeout(timer);
      const { commands } = readRunnerLog(stdout);
      const result: StepResult = {
        entry,
        exitCode,
        signal,
        stdout,
        stderr,
        outputs: parseFileCommands(readFileSync(files.GITHUB_OUTPUT, 'utf8')),
        state: parseFileCommands(readFileSync(files.GITHUB_STATE, 'utf8')),
        env: parseFileCommands(readFileSync(files.GITHUB_ENV, 'utf8')),
        summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
        commands,
        errors: commands.filter((c) => c.command === 'error').map((c) => c.data),
        warnings: commands.filter((c) => c.command === 'warning').map((c) => c.data),
        durationMs,
      };
      stepsRun.push(result);
      resolveStep(result);
    });
  });

  const cancel = (): void => {
    child.kill('SIGINT');
    timers.push(setTimeout(() => child.kill('SIGTERM'), 7_500));
    timers.push(setTimeout(() => child.kill('SIGKILL'), 10_000));
  };
  return { child, done, cancel };
}

export function runStep(entry: 'main' | 'post', options: StepOptions = {}): Promise<StepResult> {
  return startStep(entry, options).done;
}

/** Main, then post (post-if: always()), with main's state handed over, as in one job. */
export async function runJob(options: StepOptions = {}): Promise<{ main: StepResult; post: StepResult }> {
  const main = await runStep('main', options);
  const post = await runStep('post', { ...options, state: main.state });
  return { main, post };
}

/** GITHUB_OUTPUT / GITHUB_STATE / GITHUB_ENV: `name<<delimiter` blocks (and plain `name=value` lines). */
export function parseFileCommands(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name = '', delimiter] = heredoc;
      const body: string[] = [];
      while (++i < lines.length && lines[i] !== delimiter) body.push(lines[i] ?? '');
      values[name] = body.join('\n');
    } else if (line.includes('=')) {
      values[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return values;
}

/**
 * Where each secret may appear in what a person can read: only in its own `::add-mask::` line, and that
 * line must come before anything else mentions it. Returns the offending places (empty when clean).
 */
export function secretLeaks(steps: StepResult[], secrets: string[]): string[] {
  const leaks: string[] = [];
  for (const step of steps) {
    for (const secret of secrets.filter(Boolean)) {
      step.stdout.split('\n').forEach((line, index) => {
        if (line.includes(secret) && line !== `::add-mask::${secret}`) leaks.push(`${step.entry} stdout line ${index + 1}`);
      });
      if (step.stderr.includes(secret)) leaks.push(`${step.entry} stderr`);
      if (step.summary.includes(secret)) leaks.push(`${step.entry} job summary`);
      if (Object.values(step.state).some((value) => value.includes(secret))) leaks.push(`${step.entry} state`);
    }
  }
  return leaks;
}
