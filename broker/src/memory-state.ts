/**
 * The shared state kept in this process: one broker instance (the embedded default, no `store:` in the
 * config). With `store.state-dir`, the mint journal and the leases are a file there, so a restart after a
 * crash finds the keys the crash left behind and still knows every key it handed out; without one they
 * live in memory (the broker says so at start). Idempotent answers (sealed secrets) are never written to
 * disk: a restart forgets them, and a retry after it mints a new key.
 *
 * The file is written whole and atomically (a temporary file, fsync, rename), one write at a time: it
 * holds the mints in progress and the live leases, a few hundred bytes each.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { FairQueue, type FairQueueOptions, QueueFull } from './fair-queue.js';
import {
  type Admission,
  type CreateQueue,
  type HandOut,
  type LeaseStore,
  type MintAdmission,
  type Mints,
  maxHoldMs,
  type SharedState,
  StoreUnavailable,
  type Ticket,
} from './shared-state.js';

interface StoredLease {
  text: string;
  repositoryId: string;
  expiresAt: number;
}

interface Idempotent {
  state: 'in-progress' | 'done';
  bodyHash: string;
  sealedAnswer: string | undefined;
  until: number;
}

/** Keys `firstTime` holds at most (webhook deliveries: a day of them, at 50,000 a day). */
const MAX_SEEN = 50_000;

export function memoryState(options: FairQueueOptions & { stateDir: string | undefined }): SharedState {
  const { now } = options;
  const file = options.stateDir ? new StateFile(options.stateDir) : undefined;
  const book = file?.read() ?? { intents: new Map<string, { deadline: number; text: string }>(), leases: new Map<string, StoredLease>() };
  const { intents, leases } = book;
  const saved = (): void => file?.write(book);
  const inFlight = new Map<string, Map<string, number>>();
  const idempotent = new Map<string, Idempotent>();
  /** Intents the reconciler took: their mints must hand nothing out. */
  const claimed = new Set<string>();
  const fair = new FairQueue(options);
  let heldUntil = 0;
  const maxHold = maxHoldMs(options.windowMs);
  const leads = new Map<string, number>();
  const seen = new Map<string, number>();

  const mintsOf = (repositoryId: string): Map<string, number> => {
    const mints = inFlight.get(repositoryId) ?? new Map<string, number>();
    for (const [id, until] of mints) if (until <= now()) mints.delete(id);
    inFlight.set(repositoryId, mints);
    return mints;
  };
  const liveLeases = (repositoryId?: string): StoredLease[] =>
    [...leases.values()].filter((lease) => lease.expiresAt > now() && (repositoryId === undefined || lease.repositoryId === repositoryId));
  const idempotencyOf = (repositoryId: string, key: string): Idempotent | undefined => {
    const record = idempotent.get(`${repositoryId}:${key}`);
    return record && record.until > now() ? record : undefined;
  };

  const queue: CreateQueue = {
    take: async (ticket, signal) => {
      await fair.take(ticket, signal);
      const intent = ticket.intent && intents.get(ticket.intent.mintId);
      if (intent && ticket.intent) {
        intent.deadline = now() + ticket.intent.withinMs;
        saved();
      }
    },
    depth: () => fair.depth(),
    windowCreates: () => fair.windowCreates(),
    windowFreesInMs: () => fair.windowFreesInMs(),
  };

  const mints: Mints = {
    admit: async (admission: MintAdmission): Promise<Admission> => {
      const { repositoryId, idempotency } = admission;
      const held = Math.min(maxHold, heldUntil - now());
      if (held > 0) return { outcome: 'held', retryAfterMs: held };
      const earlier = idempotency && idempotencyOf(repositoryId, idempotency.key);
      if (earlier && idempotency) {
        if (earlier.bodyHash !== idempotency.bodyHash) return { outcome: 'mismatch' };
        return earlier.sealedAnswer ? { outcome: 'replay', sealedAnswer: earlier.sealedAnswer } : { outcome: 'in-progress' };
      }
      const live = liveLeases(repositoryId).length;
      const running = mintsOf(repositoryId);
      if (live + running.size >= admission.liveKeys) return { outcome: 'live-keys', live, inFlight: running.size };
      let ticket: Ticket;
      try {
        ticket = fair.admit(repositoryId);
      } catch (error) {
        if (error instanceof QueueFull) return { outcome: 'queue-full', retryAfterMs: error.retryAfterMs };
        throw error;
      }
      running.set(admission.mintId, now() + admission.inFlightMs);
      intents.set(admission.mintId, { deadline: now() + admission.inFlightMs, text: admission.intent });
      saved();
      if (idempotency) {
        idempotent.set(`${repositoryId}:${idempotency.key}`, {
          state: 'in-progress',
          bodyHash: idempotency.bodyHash,
          sealedAnswer: undefined,
          until: now() + idempotency.ttlMs,
        });
      }
      ticket.intent = { mintId: admission.mintId, withinMs: admission.intentWithinMs };
      return { outcome: 'admitted', ticket };
    },
    handOut: async (handOut: HandOut) => {
      if (!intents.delete(handOut.mintId) && claimed.has(handOut.mintId)) return false;
      leases.set(handOut.keyId, { text: handOut.signedLease, repositoryId: handOut.repositoryId, expiresAt: handOut.expiresAt });
      saved();
      mintsOf(handOut.repositoryId).delete(handOut.mintId);
      const { idempotency } = handOut;
      if (idempotency) {
        idempotent.set(`${handOut.repositoryId}:${idempotency.key}`, {
          state: 'done',
          bodyHash: idempotency.bodyHash,
          sealedAnswer: idempotency.sealedAnswer,
          until: now() + idempotency.ttlMs,
        });
      }
      return true;
    },
    abandon: async ({ mintId, repositoryId, idempotencyKey, dropIntent }) => {
      mintsOf(repositoryId).delete(mintId);
      if (idempotencyKey) idempotent.delete(`${repositoryId}:${idempotencyKey}`);
      if (dropIntent && intents.delete(mintId)) saved();
    },
  };

  const leaseStore: LeaseStore = {
    get: async (keyId) => leases.get(keyId)?.text,
    list: async (repositoryId) => liveLeases(repositoryId).map((lease) => lease.text),
    expired: async () => {
      const gone = [...leases].filter(([, lease]) => lease.expiresAt <= now());
      for (const [keyId] of gone) leases.delete(keyId);
      if (gone.length > 0) saved();
      return gone.map(([, lease]) => lease.text);
    },
    update: async (keyId, signedLease) => {
      const lease = leases.get(keyId);
      if (lease) {
        lease.text = signedLease;
        saved();
      }
    },
    end: async ({ keyId, repositoryId, idempotencyKey }) => {
      if (leases.delete(keyId)) saved();
      if (idempotencyKey) idempotent.delete(`${repositoryId}:${idempotencyKey}`);
    },
  };

  return {
    kind: 'memory',
    queue,
    mints,
    brake: {
      holdFor: async (ms) => {
        heldUntil = Math.max(heldUntil, now() + Math.min(ms, maxHold));
      },
      holdUnlessHeld: async (ms) => {
        if (heldUntil <= now()) heldUntil = now() + Math.min(ms, maxHold);
      },
      heldForMs: async () => Math.max(0, Math.min(maxHold, heldUntil - now())),
    },
    journal: {
      overdue: async () => [...intents].filter(([, intent]) => intent.deadline < now()).map(([id, intent]) => ({ id, text: intent.text })),
      claim: async (id) => {
        const had = intents.delete(id);
        if (had) {
          claimed.add(id);
          saved();
        }
        return had;
      },
    },
    leases: leaseStore,
    limiter: (points, duration, keyPrefix) => new RateLimiterMemory({ points, duration, keyPrefix }),
    firstTime: async (key, ttlMs) => {
      if ((seen.get(key) ?? 0) > now()) return false;
      seen.delete(key); // re-inserted last: the map stays in expiry order for the cap
      seen.set(key, now() + ttlMs);
      if (seen.size > MAX_SEEN) seen.delete(seen.keys().next().value as string);
      return true;
    },
    lead: async (name, ms) => {
      if ((leads.get(name) ?? 0) > now()) return false;
      leads.set(name, now() + ms);
      return true;
    },
    failure: (error) =>
      new StoreUnavailable('unreachable', `the broker's store failed: ${error instanceof Error ? error.message : String(error)}`),
    ready: async () => 'ok',
    close: async () => undefined,
  };
}

interface Book {
  intents: Map<string, { deadline: number; text: string }>;
  leases: Map<string, StoredLease>;
}

/** `state.json` in the state directory: what a previous process left is read at start. */
class StateFile {
  private readonly path: string;
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, 'state.json');
  }

  read(): Book {
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {}
    return parseStateFile(text);
  }

  write(book: Book): void {
    const temporary = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ version: 2, intents: [...book.intents], leases: [...book.leases] }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
  }
}

/**
 * The state a file holds; anything that does not look like it is skipped (a torn or foreign file). A
 * previous process's intents are overdue at once: that process is gone. Records are verified (signed)
 * where they are used, not here.
 */
export function parseStateFile(text: string): Book {
  const book: Book = { intents: new Map(), leases: new Map() };
  let parsed: { intents?: unknown; leases?: unknown } | null = null;
  try {
    parsed = JSON.parse(text) as { intents?: unknown; leases?: unknown } | null;
  } catch {}
  const intents: unknown[] = Array.isArray(parsed?.intents) ? parsed.intents : [];
  const leases: unknown[] = Array.isArray(parsed?.leases) ? parsed.leases : [];
  for (const entry of intents) {
    const [id, intent] = Array.isArray(entry) ? entry : [];
    if (typeof id === 'string' && typeof intent?.text === 'string') book.intents.set(id, { deadline: 0, text: intent.text });
  }
  for (const entry of leases) {
    const [keyId, lease] = Array.isArray(entry) ? entry : [];
    if (
      typeof keyId === 'string' &&
      typeof lease?.text === 'string' &&
      typeof lease.repositoryId === 'string' &&
      typeof lease.expiresAt === 'number'
    ) {
      book.leases.set(keyId, { text: lease.text, repositoryId: lease.repositoryId, expiresAt: lease.expiresAt });
    }
  }
  return book;
}
