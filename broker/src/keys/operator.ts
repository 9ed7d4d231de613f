/**
 * The operators' commands, run beside a serving broker against the same store and Venice account:
 *
 *   node broker/dist/server.js leases --config broker.yaml [--repository OWNER/NAME] [--json]
 *   node broker/dist/server.js revoke --config broker.yaml (--repository OWNER/NAME | --rule NAME | --run ID | --all --yes)
 *
 * `leases` lists the live leases (owner, rule, expiry, and what each key spent over seven days, from
 * Venice's listing); `revoke` deletes those keys at Venice, ends their leases and writes an audit line
 * each (`"action":"revoke","by":"operator"`): the kill switch an incident needs ("rotate any key that may
 * have been exposed"). They need the admin key (VENICE_ADMIN_KEY, as the broker) to verify the leases and
 * to delete. With Redis they work while brokers serve; with store.state-dir they read (and, for revoke,
 * rewrite) its file, so revoke there while the broker is stopped; a store in memory is only the running
 * process's and cannot be read from outside.
 */
import { Deadline } from '../../../core/deadline.js';
import { createTransport } from '../../../core/http.js';
import { defaultRetryPolicy } from '../../../core/retry.js';
import { safeText } from '../../../core/safe-text.js';
import type { ListedKey } from '../../../core/venice-api.js';
import { VeniceClient } from '../../../core/venice-client.js';
import { auditLine } from '../observe/audit.js';
import type { BrokerConfig } from '../policy/config.js';
import { memoryState } from '../state/memory-state.js';
import { redisState } from '../state/redis-state.js';
import type { SharedState } from '../state/shared-state.js';
import { LeaseBook } from './lease-book.js';
import { endLeasedKeys } from './lease-ends.js';
import type { Lease } from './leases.js';
import { recordKeys } from './sealed-records.js';
import { adviceForBrokerCaller, BROKER_VENICE_DEADLINE } from './venice-advice.js';

export interface OperatorIO {
  out: (line: string) => void;
  err: (line: string) => void;
  env: Record<string, string | undefined>;
}

/** What the commands do not say (a retry's log line, a listing that changed). */
const silent = (): undefined => undefined;

/** A mistake in the command (one plain line, exit 1). */
export class OperatorError extends Error {}

export interface Selection {
  repository?: string | undefined;
  rule?: string | undefined;
  run?: string | undefined;
  all?: boolean | undefined;
}

async function openStore(config: BrokerConfig, env: OperatorIO['env']): Promise<SharedState> {
  const queue = { perWindow: 1, windowMs: 60_000, timeoutMs: 0, now: Date.now, sleep: async () => undefined };
  if (config.store.redisUrlEnv) {
    return redisState({
      ...queue,
      url: env[config.store.redisUrlEnv] ?? '',
      commandTimeoutMs: config.store.commandTimeoutMs,
      onError: silent,
    });
  }
  if (config.store.stateDir) return memoryState({ ...queue, stateDir: config.store.stateDir });
  throw new OperatorError(
    'this broker keeps its leases in its own memory (no store: in the config): only the running process knows them. Use store.state-dir or Redis (docs/broker.md).',
  );
}

function venice(config: BrokerConfig, adminKey: string): VeniceClient {
  return new VeniceClient({
    apiUrl: config.venice.apiUrl,
    adminKey,
    transport: createTransport(process.env, undefined, 4),
    deadline: Deadline.forStep(config.limits.veniceTimeoutMs, Date.now, BROKER_VENICE_DEADLINE),
    policy: defaultRetryPolicy,
    log: silent,
    advise: adviceForBrokerCaller,
  }).forCleanup();
}

function selected(leases: Lease[], selection: Selection): Lease[] {
  return leases.filter(
    (lease) =>
      (selection.repository === undefined || lease.repository.toLowerCase() === selection.repository.toLowerCase()) &&
      (selection.rule === undefined || lease.rule === selection.rule) &&
      (selection.run === undefined || lease.runId === selection.run),
  );
}

async function withLeases<T>(
  config: BrokerConfig,
  adminKey: string,
  io: OperatorIO,
  work: (book: LeaseBook, state: SharedState) => Promise<T>,
): Promise<T> {
  const state = await openStore(config, io.env);
  try {
    const book = new LeaseBook(state.leases, recordKeys(adminKey), { warning: (message) => io.err(`warning: ${message}`) });
    return await work(book, state);
  } finally {
    await state.close();
  }
}

export async function leasesCommand(
  config: BrokerConfig,
  adminKey: string,
  selection: Selection & { json: boolean },
  io: OperatorIO,
): Promise<void> {
  const leases = await withLeases(config, adminKey, io, async (book) => selected(await book.list(), selection));
  const listed = new Map<string, ListedKey>((await venice(config, adminKey).listKeys()).map((key) => [key.id, key]));
  const rows = leases
    .sort((a, b) => a.repository.localeCompare(b.repository) || a.handedOutAt - b.handedOutAt)
    .map((lease) => ({
      keyId: lease.keyId,
      repository: lease.repository,
      repositoryId: lease.repositoryId,
      scope: lease.scope,
      pr: lease.pr ?? null,
      slot: lease.slot ?? null,
      run: lease.runId,
      attempt: lease.runAttempt,
      rule: lease.rule,
      handedOutAt: new Date(lease.handedOutAt).toISOString(),
      expiresAt: new Date(lease.expiresAt).toISOString(),
      state: lease.state,
      atVenice: listed.has(lease.keyId),
      spent: listed.get(lease.keyId)?.spent ?? null,
    }));
  if (selection.json) {
    io.out(JSON.stringify({ leases: rows }, null, 2));
    return;
  }
  io.out(`${rows.length} live lease(s)`);
  for (const row of rows) {
    const owner = `${row.scope}${row.pr === null ? '' : ` PR #${row.pr}`}${row.slot === null ? '' : ` slot ${row.slot}`} run ${row.run}.${row.attempt}`;
    const spent = row.spent ? `${row.spent.usd} USD, ${row.spent.diem} DIEM (7 days)` : row.atVenice ? 'spend unknown' : 'gone at Venice';
    io.out(`${row.keyId}  ${safeText(row.repository)}  ${owner}  rule ${safeText(row.rule)}  expires ${row.expiresAt}  ${spent}`);
  }
}

export async function revokeCommand(
  config: BrokerConfig,
  adminKey: string,
  selection: Selection & { yes: boolean },
  io: OperatorIO,
): Promise<number> {
  const chosen = [selection.repository, selection.rule, selection.run].filter((value) => value !== undefined).length;
  if (chosen === 0 && !selection.all) {
    throw new OperatorError('revoke needs what to revoke: --repository OWNER/NAME, --rule NAME, --run ID, or --all --yes.');
  }
  if (selection.all && (chosen > 0 || !selection.yes)) {
    throw new OperatorError('--all revokes every key the broker handed out: give it alone, with --yes.');
  }
  return withLeases(config, adminKey, io, async (book) => {
    const leases = selected(await book.list(), selection);
    const audit = (record: Parameters<typeof auditLine>[0]) => io.out(auditLine(record, Date.now()));
    const client = venice(config, adminKey);
    const result = await endLeasedKeys(
      leases,
      { why: 'operator', action: 'revoke', reason: 'revoked by an operator', by: 'operator' },
      {
        cleanup: () => client,
        leases: book,
        audit,
        log: { info: silent, warning: (message) => io.err(`warning: ${message}`) },
        changed: silent,
      },
    );
    io.err(`revoked ${result.ids.length} key(s) of ${leases.length} lease(s).`);
    return result.ids.length;
  });
}
