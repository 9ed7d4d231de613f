// The broker as the separate process a container would run: broker/dist/server.js under Node 24,
// configured by a file and VENICE_ADMIN_KEY, its audit lines read from stdout. Imports nothing from
// broker/src (and no test runner), so `npm run bench` can use it as Node runs scripts.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { OidcIssuer } from './oidc-issuer.ts';
import { NODE24, REPO } from './runner.ts';
import type { VeniceServer } from './venice-server.ts';

/** A unique audience per organisation, as the README advises (not a shared word). */
export const AUDIENCE = 'https://broker.example.org';

/** The policy most tests use: octo-org's pushes to main and its pull requests may mint any scope up to 5 USD, clamped. */
export const DEFAULT_RULES = [
  {
    name: 'octo-org-main',
    match: { repository_owner: 'octo-org', event_name: 'push', ref: 'refs/heads/main' },
    'over-ceiling': 'clamp',
    ceilings: { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 100, scopes: ['job', 'run', 'pr'] },
  },
  {
    name: 'octo-org-pulls',
    match: { repository_owner: 'octo-org', event_name: 'pull_request' },
    'over-ceiling': 'clamp',
    ceilings: { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 100, scopes: ['job', 'run', 'pr'] },
  },
];

export interface HarnessOptions {
  venice: VeniceServer;
  issuer: OidcIssuer;
  rules?: unknown[];
  limits?: Record<string, unknown>;
  /** oidc settings beside the issuer and audience (jwks-cooldown, jwks-stale-for, …). */
  oidc?: Record<string, unknown>;
  defaults?: Record<string, unknown>;
  /** github-webhook settings; with them the broker gets WEBHOOK_SECRET (or the variable named) too. */
  githubWebhook?: Record<string, unknown>;
  webhookSecret?: string;
  /** The loopback address to listen on (default 127.0.0.1; [::1] for IPv6). */
  host?: string;
  /** The store: `{ 'redis-url-env': 'BROKER_REDIS_URL' }` with `redisUrl`, or `{ 'state-dir': … }`. */
  store?: Record<string, unknown>;
  /** The Redis URL the broker gets in BROKER_REDIS_URL. */
  redisUrl?: string;
  /** metrics: { listener, host, port }; absent: the internal listener on a free loopback port. */
  metrics?: Record<string, unknown>;
  /** The whole config file, as written (e.g. the shipped example, adapted): the settings above are then unused. */
  configText?: string;
  /** listen.port (default 0: a free port). */
  port?: number;
  /** listen.trusted-proxies. */
  trustedProxies?: string[];
  /** pool: { size, max-age }: the warm pool. */
  pool?: Record<string, unknown>;
}

export function configYaml(options: HarnessOptions, port = 0): string {
  return stringify({
    listen: {
      host: options.host ?? '127.0.0.1',
      port,
      ...(options.trustedProxies ? { 'trusted-proxies': options.trustedProxies } : {}),
    },
    oidc: { issuer: options.issuer.url, audience: AUDIENCE, ...options.oidc },
    ...(options.defaults ? { defaults: options.defaults } : {}),
    ...(options.githubWebhook ? { 'github-webhook': options.githubWebhook } : {}),
    venice: { 'api-url': options.venice.apiUrl },
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.store ? { store: options.store } : {}),
    ...(options.pool ? { pool: options.pool } : {}),
    // Each test broker's metrics listener on a free port (the default 9090 would collide between tests).
    metrics: options.metrics ?? { port: 0 },
    rules: options.rules ?? DEFAULT_RULES,
  });
}

export interface TestBroker {
  url: string;
  /** The metrics listener (undefined with metrics.listener: api). */
  metricsUrl?: string | undefined;
  /** Audit lines, parsed, in order. */
  audit: Record<string, unknown>[];
  auditText: () => string;
  logs: string[];
  /** Stops it (SIGTERM for a process; in-process, a drain with `graceMs` for what is in flight). */
  stop: (graceMs?: number) => Promise<void>;
}

/** broker/dist/server.js as its own process, exactly as the README's command and the Dockerfile run it. */
export async function spawnBroker(options: HarnessOptions): Promise<TestBroker & { child: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'vek-broker-'));
  const configPath = join(dir, 'broker.yaml');
  writeFileSync(configPath, options.configText ?? configYaml(options, options.port));
  const child = spawn(NODE24, [join(REPO, 'broker/dist/server.js'), '--config', configPath], {
    env: {
      PATH: process.env.PATH ?? '',
      VENICE_ADMIN_KEY: options.venice.adminKey,
      ...(options.webhookSecret ? { GITHUB_WEBHOOK_SECRET: options.webhookSecret } : {}),
      ...(options.redisUrl ? { BROKER_REDIS_URL: options.redisUrl } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the broker did not start: ${stderr}`)), 15_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const listening = /listening on (http:\/\/\S+)[^\n]*\n/.exec(stderr); // the whole line: it may name the metrics listener
      if (listening) {
        clearTimeout(timer);
        resolve(listening[1] as string);
      }
    });
    child.on('exit', (code) => reject(new Error(`the broker exited with ${code}: ${stderr}`)));
  });
  const lines = (): string[] => stdout.split('\n').filter((line) => line !== '');
  const metricsUrl = /"metrics":"(http:\/\/[^"]+)"/.exec(stderr)?.[1];
  return {
    url,
    metricsUrl,
    child,
    get audit() {
      return lines().map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    auditText: () => stdout,
    get logs() {
      return stderr.split('\n');
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
