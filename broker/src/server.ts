/**
 * The broker's command:
 *   node broker/dist/server.js --config broker.yaml          serve
 *   node broker/dist/server.js --config broker.yaml --check  validate the config and exit (0: valid)
 *   node broker/dist/server.js leases --config broker.yaml   an operator's list of the live leases
 *   node broker/dist/server.js revoke --config broker.yaml   the kill switch (operator.ts)
 *   node broker/dist/server.js --version                     the version (version.ts)
 * Reads the config, takes the admin key from the environment variable the config names
 * (VENICE_ADMIN_KEY by default; never from the file), listens, and stops cleanly on SIGTERM or SIGINT
 * (a container platform's stop): /readyz turns 503, queued callers are answered 503 with Retry-After,
 * creates in flight get `limits.shutdown-timeout` to finish, then the process exits 0. The signal
 * handlers are in place before the listening line is printed, so a stop that follows it is never lost.
 * Operational lines are JSON on stderr (log.ts); a mistake in the command or config is one plain line.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ActionFailure } from '../../core/errors.js';
import { AdminKeyRefused, ListenError, type RunningBroker, startBroker } from './broker.js';
import { leasesCommand, OperatorError, revokeCommand } from './keys/operator.js';
import { type Level, logLine } from './observe/log.js';
import { BROKER_VERSION } from './observe/version.js';
import { type BrokerConfig, ConfigError, parseConfig } from './policy/config.js';
import { judgeRedisUrl } from './policy/redis-url.js';
import { StoreUnavailable } from './state/shared-state.js';

const NAME = 'venice-key-broker';

function fail(message: string): never {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(1);
}

function say(level: Level, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(`${logLine(level, message, Date.now(), fields)}\n`);
}

const USAGE =
  'usage: node broker/dist/server.js --config broker.yaml [--check]\n' +
  '       node broker/dist/server.js --version\n' +
  '       node broker/dist/server.js leases --config broker.yaml [--repository OWNER/NAME] [--json]\n' +
  '       node broker/dist/server.js revoke --config broker.yaml (--repository OWNER/NAME | --rule NAME | --run ID | --all --yes)';

const OPTIONS = {
  config: { type: 'string' },
  check: { type: 'boolean' },
  repository: { type: 'string' },
  rule: { type: 'string' },
  run: { type: 'string' },
  all: { type: 'boolean' },
  yes: { type: 'boolean' },
  json: { type: 'boolean' },
  version: { type: 'boolean' },
} as const;

function readArguments() {
  try {
    const { values, positionals } = parseArgs({ options: OPTIONS, allowPositionals: true });
    const [command = 'serve', ...rest] = positionals;
    if (values.version && rest.length === 0 && command === 'serve') {
      process.stdout.write(`${NAME} ${BROKER_VERSION}\n`);
      process.exit(0);
    }
    if (rest.length > 0 || !['serve', 'leases', 'revoke'].includes(command) || !values.config) fail(USAGE);
    return { ...values, command, config: values.config as string };
  } catch {
    fail(USAGE);
  }
}

function loadConfig(configPath: string): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (error) {
    fail(`cannot read the config file ${configPath}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  try {
    return parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) fail(`${configPath}: ${error.message}`);
    throw error;
  }
}

/** The admin key from the environment, and the Redis URL judged before anything connects. */
function secretsOf(config: BrokerConfig): string {
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
  return adminKey;
}

/** leases and revoke: an operator's look at the leases, and the kill switch. */
async function operate(command: string, config: BrokerConfig, adminKey: string, args: ReturnType<typeof readArguments>): Promise<void> {
  const io = {
    out: (line: string) => process.stdout.write(`${line}\n`),
    err: (line: string) => process.stderr.write(`${NAME}: ${line}\n`),
    env: process.env,
  };
  const selection = { repository: args.repository, rule: args.rule, run: args.run, all: args.all };
  try {
    if (command === 'leases') await leasesCommand(config, adminKey, { ...selection, json: args.json === true }, io);
    else await revokeCommand(config, adminKey, { ...selection, yes: args.yes === true }, io);
  } catch (error) {
    if (error instanceof OperatorError || error instanceof StoreUnavailable || error instanceof ActionFailure) fail(error.message);
    throw error;
  }
}

async function main(): Promise<void> {
  const args = readArguments();
  const configPath = args.config;
  const config = loadConfig(configPath);
  // A setting under its former name still works; it is said on every start until it is renamed.
  for (const notice of config.notices) {
    if (args.check) process.stderr.write(`${NAME}: ${configPath}: ${notice}\n`);
    else say('warning', notice);
  }
  if (args.check) {
    process.stdout.write(
      `${NAME}: ${configPath} is valid: ${config.rules.length} rule(s) (${config.rules.map((rule) => rule.name).join(', ')}).\n`,
    );
    return;
  }
  const adminKey = secretsOf(config);
  if (args.command !== 'serve') return operate(args.command, config, adminKey, args);
  await serve(config, adminKey);
}

async function serve(config: BrokerConfig, adminKey: string): Promise<void> {
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
    version: BROKER_VERSION,
    store: config.store.redisUrlEnv ? 'redis' : config.store.stateDir ? 'state-dir' : 'memory',
    ...(broker.metricsUrl ? { metrics: broker.metricsUrl } : {}),
  });
}

await main();
