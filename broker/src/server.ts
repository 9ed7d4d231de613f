/**
 * The broker's command:
 *   node broker/dist/server.js --config broker.yaml          serve
 *   node broker/dist/server.js --config broker.yaml --check  validate the config and exit (0: valid)
 * Reads the config, takes the admin key from the environment variable the config names
 * (VENICE_ADMIN_KEY by default; never from the file), listens, and stops cleanly on SIGTERM or SIGINT
 * (a container platform's stop): /readyz turns 503, queued callers are answered 503 with Retry-After,
 * creates in flight get `limits.shutdown-timeout` to finish, then the process exits 0. The signal
 * handlers are in place before the listening line is printed, so a stop that follows it is never lost.
 * Operational lines are JSON on stderr (log.ts); a mistake in the command or config is one plain line.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AdminKeyRefused, ListenError, type RunningBroker, startBroker } from './broker.js';
import { ConfigError, parseConfig } from './config.js';
import { type Level, logLine } from './log.js';
import { judgeRedisUrl } from './redis-url.js';

const NAME = 'venice-key-broker';

function fail(message: string): never {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(1);
}

function say(level: Level, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${logLine(level, message, Date.now(), fields)}\n`);
}

async function main(): Promise<void> {
  let args: { config?: string | undefined; check?: boolean | undefined } = {};
  try {
    args = parseArgs({ options: { config: { type: 'string' }, check: { type: 'boolean' } } }).values;
  } catch {}
  const configPath = args.config;
  if (!configPath) fail('usage: node broker/dist/server.js --config broker.yaml [--check]');
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (error) {
    fail(`cannot read the config file ${configPath}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) fail(`${configPath}: ${error.message}`);
    throw error;
  }
  if (args.check) {
    process.stdout.write(
      `${NAME}: ${configPath} is valid: ${config.rules.length} rule(s) (${config.rules.map((rule) => rule.name).join(', ')}).\n`,
    );
    return;
  }
  const adminKey = process.env[config.venice.adminKeyEnv]?.trim() ?? '';
  if (adminKey === '' || /\s/.test(adminKey)) {
    fail(
      `the environment variable ${config.venice.adminKeyEnv} must hold the Venice admin key (it is empty or has spaces); set it from your platform's secret store.`,
    );
  }
  const { redisUrlEnv } = config.store;
  if (redisUrlEnv) {
    const verdict = judgeRedisUrl(process.env[redisUrlEnv] ?? '', redisUrlEnv, config.store.allowUnauthenticated);
    if ('refuse' in verdict) fail(verdict.refuse);
    if (verdict.warn) say('warning', verdict.warn);
  }
  const webhookSecret = config.githubWebhook ? (process.env[config.githubWebhook.secretEnv] ?? '') : undefined;
  if (webhookSecret !== undefined && webhookSecret.length < 16) {
    fail(
      `the environment variable ${config.githubWebhook?.secretEnv} must hold the GitHub webhook's secret (at least 16 characters), as github-webhook in the config asks; set it from your platform's secret store.`,
    );
  }
  // A platform's stop: creates in flight get shutdown-timeout (20 s) to finish; most platforms wait 30 s
  // before SIGKILL, and Kubernetes' terminationGracePeriodSeconds must be above it (docs/broker.md).
  let broker: RunningBroker | undefined;
  let stopping = false;
  const grace = config.limits.shutdownTimeoutMs;
  const stop = (signal: NodeJS.Signals): void => {
    if (!broker) {
      stopping = true;
      return;
    }
    say(
      'info',
      `${signal}: draining: /readyz is 503, no new connections, queued callers are answered 503, creates in flight get up to ${grace / 1000} s`,
    );
    broker.close(grace).then(() => {
      say('info', 'stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    broker = await startBroker({
      config,
      adminKey,
      env: process.env,
      writeAudit: (line) => process.stdout.write(`${line}\n`),
      writeLog: (line) => process.stderr.write(`${line}\n`),
      webhookSecret,
      checkAdminKey: true,
      onAdminKeyUnchecked: (why) => say('warning', `could not check the admin key with Venice (${why}); starting anyway.`),
    });
  } catch (error) {
    if (error instanceof AdminKeyRefused || error instanceof ListenError) fail(error.message);
    throw error;
  }
  if (!config.store.redisUrlEnv && !config.store.stateDir) {
    say(
      'warning',
      'no store.state-dir: the mint journal is kept in memory, so keys minted when this process is killed (not stopped) are not found again and expire on their own. Set store.state-dir to a persistent directory.',
    );
  }
  if (stopping) return stop('SIGTERM');
  say('info', `listening on ${broker.url} for audience ${config.oidc.audience}, ${config.rules.length} rule(s)`, {
    store: config.store.redisUrlEnv ? 'redis' : config.store.stateDir ? 'state-dir' : 'memory',
    ...(broker.metricsUrl ? { metrics: broker.metricsUrl } : {}),
  });
}

await main();
