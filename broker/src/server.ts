/**
 * The broker's command:
 *   node broker/dist/server.js --config broker.yaml          serve
 *   node broker/dist/server.js --config broker.yaml --check  validate the config and exit (0: valid)
 * Reads the config, takes the admin key from the environment variable the config names
 * (VENICE_ADMIN_KEY by default; never from the file), listens, and stops cleanly on SIGTERM or SIGINT
 * (a container platform's stop), letting requests in flight finish first. The signal handlers are in
 * place before the listening line is printed, so a stop that follows it is never lost.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Deadline } from '../../core/deadline.js';
import { messageOf } from '../../core/errors.js';
import { createTransport } from '../../core/http.js';
import { defaultRetryPolicy } from '../../core/retry.js';
import { VeniceClient, VeniceError } from '../../core/venice-client.js';
import { type RunningBroker, startBroker } from './broker.js';
import { ConfigError, parseConfig } from './config.js';

const NAME = 'venice-key-broker';

function fail(message: string): never {
  process.stderr.write(`${NAME}: ${message}\n`);
  process.exit(1);
}

/**
 * One read that costs no creation (GET /api_keys): if Venice says the key is not an admin key (401), the
 * broker does not start, rather than failing every caller's first mint. Venice out of reach is only a
 * warning: the broker starts and each request says what it meets.
 */
async function checkAdminKey(config: ReturnType<typeof parseConfig>, adminKey: string): Promise<void> {
  const venice = new VeniceClient({
    apiUrl: config.venice.apiUrl,
    adminKey,
    transport: createTransport(process.env, undefined, 1),
    deadline: new Deadline(10_000),
    policy: { ...defaultRetryPolicy, maxAttempts: 2 },
    log: () => undefined,
  });
  try {
    await venice.listKeys();
  } catch (error) {
    if (error instanceof VeniceError && (error.status === 401 || error.status === 402)) {
      fail(
        `Venice refused the key in ${config.venice.adminKeyEnv} (${error.status}${error.veniceText ? ` "${error.veniceText}"` : ''}): it must be a Venice admin key (Settings → API keys, type Admin).`,
      );
    }
    process.stderr.write(`${NAME}: warning: could not check the admin key with Venice (${messageOf(error)}); starting anyway.\n`);
  }
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
  await checkAdminKey(config, adminKey);
  const webhookSecret = config.githubWebhook ? (process.env[config.githubWebhook.secretEnv] ?? '') : undefined;
  if (webhookSecret !== undefined && webhookSecret.length < 16) {
    fail(
      `the environment variable ${config.githubWebhook?.secretEnv} must hold the GitHub webhook's secret (at least 16 characters), as github-webhook in the config asks; set it from your platform's secret store.`,
    );
  }
  // A platform's stop: requests in flight get 20 s to finish (most platforms wait 30 s before SIGKILL).
  let broker: RunningBroker | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (!broker) {
      stopping = true;
      return;
    }
    process.stderr.write(`${NAME}: ${signal}: draining (no new connections; requests in flight get up to 20 s)\n`);
    broker.close(20_000).then(() => {
      process.stderr.write(`${NAME}: stopped\n`);
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  broker = await startBroker({
    config,
    adminKey,
    env: process.env,
    writeAudit: (line) => process.stdout.write(`${line}\n`),
    writeLog: (line) => process.stderr.write(`${line}\n`),
    webhookSecret,
  });
  if (stopping) return stop('SIGTERM');
  process.stderr.write(`${NAME}: listening on ${broker.url} for audience ${config.oidc.audience}, ${config.rules.length} rule(s)\n`);
}

await main();
