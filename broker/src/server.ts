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
import { isLoopbackHost } from '../../core/http.js';
import { AdminKeyRefused, ListenError, type RunningBroker, startBroker } from './broker.js';
import { type BrokerConfig, ConfigError, parseConfig } from './config.js';
import { type Level, logLine } from './log.js';

const NAME = 'venice-key-broker';

function fail(message: string): never {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(1);
}

function say(level: Level, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${logLine(level, message, Date.now(), fields)}\n`);
}

/**
 * Redis as its own security guidance says: across hosts, never without a password (or an ACL user's),
 * unless the operator says so in the config; plain redis:// to another host is warned about (rediss://
 * is TLS). The password is never printed. Returns the warning to say, if any.
 */
function checkRedisUrl(url: string, config: BrokerConfig): string | undefined {
  const variable = config.store.redisUrlEnv as string;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {}
  if (!parsed || !/^rediss?:$/.test(parsed.protocol) || parsed.hostname === '') {
    fail(
      `the environment variable ${variable} must hold the Redis URL, as store.redis-url-env in the config asks, e.g. rediss://broker:password@redis.internal:6379/0 (redis:// without TLS); it is empty or not a redis:// URL.`,
    );
  }
  if (isLoopbackHost(parsed.hostname)) return undefined;
  const address = `${parsed.hostname}:${parsed.port || '6379'}`;
  if (parsed.password === '' && !config.store.allowUnauthenticated) {
    fail(
      `the Redis URL in ${variable} names another host (${address}) without a password: anyone who can reach it could stop or steer every mint. Give the broker an ACL user and password (rediss://broker:password@${address}, see docs/broker.md), or set store.allow-unauthenticated: true if the network alone protects it.`,
    );
  }
  return parsed.protocol === 'redis:'
    ? `the Redis URL in ${variable} is redis:// to another host (${address}): its password and the broker's state cross the network in clear text. Use rediss:// (TLS).`
    : undefined;
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
  const redisWarning = config.store.redisUrlEnv ? checkRedisUrl(process.env[config.store.redisUrlEnv] ?? '', config) : undefined;
  if (redisWarning) say('warning', redisWarning);
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
