// The broker's command as a container runs it (broker/dist/server.js under Node 24): a missing or bad
// config, or no admin key in the environment, stops it with one line that says what to fix; the
// example config in broker/ and the one in the operator guide (docs/broker.md) are valid; and the Dockerfile runs that bundle.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { NODE24, REPO } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { parseConfig } from '../src/policy/config.ts';

function runServer(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((done) => {
    execFile(
      NODE24,
      [join(REPO, 'broker/dist/server.js'), ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 15_000 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'vek-broker-config-')), 'broker.yaml');
  writeFileSync(path, text);
  return path;
}

test.each([
  [
    'no --config',
    [],
    {},
    'venice-key-broker: usage: node broker/dist/server.js --config broker.yaml [--check]\n' +
      '       node broker/dist/server.js --version\n' +
      '       node broker/dist/server.js leases --config broker.yaml [--repository OWNER/NAME] [--json]\n' +
      '       node broker/dist/server.js revoke --config broker.yaml (--repository OWNER/NAME | --rule NAME | --run ID | --all --yes)\n',
  ],
  [
    'a config file that is not there',
    ['--config', '/nonexistent/broker.yaml'],
    {},
    'venice-key-broker: cannot read the config file /nonexistent/broker.yaml: ENOENT.\n',
  ],
  [
    'an invalid config',
    ['--config', 'BAD'],
    {},
    /^venice-key-broker: .*broker\.yaml: the broker's config is not valid:\n {2}oidc: missing; it needs issuer, audience, jwks-url…\n/,
  ],
  [
    'github-webhook without its secret in the environment',
    ['--config', 'WEBHOOK'],
    { VENICE_ADMIN_KEY: 'an-admin-key-for-the-test' },
    // Said before Venice is asked anything (nobody answers on that port).
    "venice-key-broker: the environment variable GITHUB_WEBHOOK_SECRET must hold the GitHub webhook's secret (at least 16 characters), as github-webhook in the config asks; set it from your platform's secret store.\n",
  ],
  [
    'no admin key in the environment',
    ['--config', 'GOOD'],
    {},
    "venice-key-broker: the environment variable VENICE_ADMIN_KEY must hold the Venice admin key (it is empty or has spaces); set it from your platform's secret store.\n",
  ],
] as const)('%s: exits 1 with one clear line', async (_, args, env, message) => {
  const good = configFile(readFileSync(join(REPO, 'broker/broker.example.yaml'), 'utf8'));
  const bad = configFile('rules: []');
  // The example has github-webhook; Venice on a loopback port nobody answers (the admin-key check only warns).
  const webhook = configFile(
    readFileSync(join(REPO, 'broker/broker.example.yaml'), 'utf8').replace('https://api.venice.ai/api/v1', 'http://127.0.0.1:9/api/v1'),
  );
  const result = await runServer(
    args.map((arg) => (arg === 'GOOD' ? good : arg === 'BAD' ? bad : arg === 'WEBHOOK' ? webhook : arg)),
    env,
  );
  expect(result.code).toBe(1);
  if (typeof message === 'string') expect(result.stderr).toBe(message);
  else expect(result.stderr).toMatch(message);
  expect(result.stdout).toBe('');
});

test("the example config and the operator guide's config are valid, and the guide shows the example's rules", () => {
  const example = parseConfig(readFileSync(join(REPO, 'broker/broker.example.yaml'), 'utf8'));
  const readme = readFileSync(join(REPO, 'docs', 'broker.md'), 'utf8');
  const block = /```yaml\n(# broker\.yaml\n[\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const documented = parseConfig(block);
  // Compiled matchers are functions (never equal): compare what each rule says.
  const said = (rules: typeof example.rules) => rules.map(({ matcher: _, ...rule }) => rule);
  expect(said(documented.rules)).toEqual(said(example.rules.filter((rule) => documented.rules.some((shown) => shown.name === rule.name))));
  expect(documented.rules.map((rule) => rule.name)).toEqual(['main-branch-ci', 'pull-request-previews']);
  expect({ ...documented, rules: [] }).toEqual({ ...example, rules: [] });
});

test('the Dockerfile runs the committed bundle with the config path the operator guide mounts', () => {
  const dockerfile = readFileSync(join(REPO, 'broker/Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/^FROM node:24-/m);
  expect(dockerfile).toContain('COPY broker/dist/ ./dist/');
  expect(dockerfile).toContain('ENTRYPOINT ["node", "dist/server.js"]');
  expect(dockerfile).toContain('CMD ["--config", "/etc/venice-key-broker/broker.yaml"]');
  expect(readFileSync(join(REPO, 'docs', 'broker.md'), 'utf8')).toContain('-v "$PWD/broker.yaml:/etc/venice-key-broker/broker.yaml:ro"');
});

test('an admin key Venice refuses stops the broker at start with one clear line (one read, no creation)', async () => {
  const venice = await new VeniceServer().start();
  try {
    const config = configFile(`oidc: { audience: https://broker.example.org }
venice: { api-url: ${venice.apiUrl} }
defaults: { ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }
rules: [{ name: ci, match: { repository_owner_id: 1, event_name: push } }]
`);
    const result = await runServer(['--config', config], { VENICE_ADMIN_KEY: 'VENICE_INFERENCE_KEY_not_an_admin_key' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^venice-key-broker: Venice refused the key in VENICE_ADMIN_KEY \(401 "Authentication failed"\): it must be a Venice admin key/,
    );
    expect(venice.requests.map((request) => request.call)).toEqual(['list']);
  } finally {
    await venice.stop();
  }
});

test('--check names a setting written under its former name and still passes the config', async () => {
  const config = configFile(`oidc: { audience: https://broker.example.org }
limits: { reconcile-interval: 10s }
defaults: { ceilings: { usd: 1, diem: 1, max-expiry: 1h, live-keys: 5 } }
rules: [{ name: ci, match: { repository_owner_id: 1, event_name: push } }]
`);
  const result = await runServer(['--config', config, '--check']);
  expect(result.code).toBe(0);
  expect(result.stderr).toBe(
    `venice-key-broker: ${config}: limits.reconcile-interval is now limits.orphan-scan-interval; it is read as before, but rename it in the config\n`,
  );
  expect(result.stdout).toBe(`venice-key-broker: ${config} is valid: 1 rule(s) (ci).\n`);
});
