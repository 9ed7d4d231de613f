// The real wiring (src/index.ts with the runner's workflow commands, process signals, and the entry
// files) run in this process, so coverage sees it; the scenario tests run the same code as the bundle.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { parseFileCommands, runnerInputs } from '../../fakes/runner.ts';
import type { VeniceServer } from '../../fakes/venice-server.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();
let server: VeniceServer;
let files: Record<string, string>;
let stdout: string[];
const savedEnv = { ...process.env };

beforeEach(() => {
  server = bed.venice;
  const dir = mkdtempSync(join(tmpdir(), 'vek-wiring-'));
  files = {};
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_STEP_SUMMARY']) {
    files[name] = join(dir, name);
    writeFileSync(files[name]!, '');
  }
  for (const [name, value] of Object.entries(runnerInputs())) process.env[`INPUT_${name.toUpperCase()}`] = value;
  Object.assign(process.env, files, {
    GITHUB_REPOSITORY: 'octo-org/shop',
    GITHUB_RUN_ID: '42',
    GITHUB_RUN_ATTEMPT: '1',
    'INPUT_ADMIN-KEY': server.adminKey,
    'INPUT_API-URL': server.apiUrl,
  });
  stdout = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  process.env = { ...savedEnv };
  process.exitCode = undefined;
});

function stateForPost(): void {
  for (const [name, value] of Object.entries(parseFileCommands(readFileSync(files.GITHUB_STATE!, 'utf8')))) {
    process.env[`STATE_${name}`] = value;
  }
}

test("runMain then runPost through the runner's workflow commands: outputs, state, summary, and the key deleted", async () => {
  const { runMain, runPost } = await import('../../src/index.ts');
  await runMain();
  const outputs = parseFileCommands(readFileSync(files.GITHUB_OUTPUT!, 'utf8'));
  expect(outputs['api-key']).toBe(server.minted[0]!.apiKey);
  expect(readFileSync(files.GITHUB_STEP_SUMMARY!, 'utf8')).toContain(server.minted[0]!.id);
  expect(stdout.join('')).toContain(`::add-mask::${server.adminKey}`);
  expect(process.exitCode ?? 0).toBe(0);

  stateForPost();
  await runPost();
  expect(server.liveKeys()).toEqual([]);
  expect(process.exitCode ?? 0).toBe(0);
});

test("a delete Venice refuses is a warning through the runner's workflow commands", async () => {
  const { runMain, runPost } = await import('../../src/index.ts');
  await runMain();
  stateForPost();
  server.inject('delete', { kind: 'status', status: 403 });
  await runPost();
  expect(stdout.join('')).toMatch(/::warning::venice-ephemeral-key: could not delete key /);
  expect(process.exitCode ?? 0).toBe(0);
});

test.each([
  ['SIGINT', 'SIGTERM'], // Linux and macOS runners
  ['SIGINT', 'SIGBREAK'], // Windows runners: Ctrl-C, then Ctrl-Break
] as const)('%s stops a hung create; %s ends its grace period at once', async (first, second) => {
  const { runMain } = await import('../../src/index.ts');
  server.inject('create', { kind: 'hang' });
  const running = runMain();
  await server.nextRequest('create');
  process.emit(first, first);
  process.emit(second, second);
  await running;
  expect(process.exitCode).toBe(1);
  expect(stdout.join('')).toContain(`Received ${first}: the job is being cancelled.`);
  expect(stdout.join('')).toContain('::error::venice-ephemeral-key: the job was cancelled');
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGBREAK']) expect(process.listenerCount(signal)).toBe(0); // removed after the step
});

test('without GITHUB_STEP_SUMMARY the summary is skipped quietly', async () => {
  delete process.env.GITHUB_STEP_SUMMARY;
  const { runMain } = await import('../../src/index.ts');
  await runMain();
  expect(process.exitCode ?? 0).toBe(0);
  expect(stdout.join('')).not.toContain('::warning::');
});

test('export-env, and an input the runner did not pass at all (read as empty)', async () => {
  process.env['INPUT_EXPORT-ENV'] = 'VENICE_API_KEY';
  delete process.env.INPUT_DESCRIPTION;
  const { runMain } = await import('../../src/index.ts');
  await runMain();
  expect(readFileSync(files.GITHUB_ENV!, 'utf8')).toContain('VENICE_API_KEY<<');
  expect(process.env.VENICE_API_KEY).toBe(server.minted[0]!.apiKey);
  expect(server.minted[0]!.description).toMatch(/^vek:/);
  delete process.env.VENICE_API_KEY;
});

test('a runner without GITHUB_OUTPUT: an unexpected error, stack in the debug log, and no key left', async () => {
  delete process.env.GITHUB_OUTPUT;
  const { runMain } = await import('../../src/index.ts');
  await runMain();
  expect(process.exitCode).toBe(1);
  const printed = stdout.join('');
  expect(printed).toContain(
    '::error::venice-ephemeral-key: unexpected error: GITHUB_OUTPUT is not set; this action needs a runner that supports node24 actions',
  );
  expect(printed).toMatch(/::debug::Error: GITHUB_OUTPUT is not set/);
  expect(server.liveKeys()).toEqual([]);
});

test('the entry files run their step when loaded', async () => {
  await import('../../src/main.ts');
  expect(server.liveKeys()).toHaveLength(1);
  stateForPost();
  await import('../../src/post.ts');
  expect(server.liveKeys()).toEqual([]);
});
