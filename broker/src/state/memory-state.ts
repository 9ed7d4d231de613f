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
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { FairQueue, type FairQueueOptions, type QueueFull } from './fair-queue.js';
import {
  type Admission,
  type CreateQueue,
  type HandOut,
  type LeaseStore,
  type MintAdmission,
  type Mints,
  maxHoldMs,
  poolQuietMs,
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

/** The state's maps, and the helpers every part of it reads them through. */
class Memory {
  readonly book: Book;
  readonly inFlight = new Map<string, Map<string, number>>();
  readonly idempotent = new Map<string, Idempotent>();
  /** Intents the reconciler took: their mints must hand nothing out. */
  readonly claimed = new Set<string>();
  readonly fair: FairQueue;
  heldUntil = 0;
  /** Until when mints are arriving: the warm pool does not refill (poolQuietMs). */
  busyUntil = 0;
  readonly maxHold: number;
  readonly quietMs: number;

  constructor(
    readonly now: () => number,
    options: FairQueueOptions,
    private readonly file: StateFile | undefined,
  ) {
    this.book = file?.read() ?? { intents: new Map(), leases: new Map() };
    this.fair = new FairQueue(options);
    this.maxHold = maxHoldMs(options.windowMs);
    this.quietMs = poolQuietMs(options.windowMs);
  }

  saved(): void {
    this.file?.write(this.book);
  }

  mintsOf(repositoryId: string): Map<string, number> {
    const mints = this.inFlight.get(repositoryId) ?? new Map<string, number>();
    for (const [id, until] of mints) if (until <= this.now()) mints.delete(id);
    this.inFlight.set(repositoryId, mints);
    return mints;
  }

  liveLeases(repositoryId?: string): StoredLease[] {
    return [...this.book.leases.values()].filter(
      (lease) => lease.expiresAt > this.now() && (repositoryId === undefined || lease.repositoryId === repositoryId),
    );
  }

  idempotencyOf(repositoryId: string, key: string): Idempotent | undefined {
    const record = this.idempotent.get(`${repositoryId}:${key}`);
    return record && record.until > this.now() ? record : undefined;
  }
}

export function memoryState(options: FairQueueOptions & { stateDir: string | undefined }): SharedState {
  const memory = new Memory(options.now, options, options.stateDir ? new StateFile(options.stateDir) : undefined);
  const { now } = options;
  const leads = new Map<string, number>();
  const seen = new Map<string, number>();
  const replica = randomUUID();
  return {
    kind: 'memory',
    replica,
    deployment: randomBytes(4).toString('hex'),
    // One process: only this one runs (a pool key of an earlier process is a dead replica's).
    alive: async (other) => other === replica,
    queue: memoryQueue(memory),
    mints: memoryMints(memory),
    brake: {
      holdFor: async (ms) => {
        memory.heldUntil = Math.max(memory.heldUntil, now() + Math.min(ms, memory.maxHold));
      },
      holdUnlessHeld: async (ms) => {
        if (memory.heldUntil <= now()) memory.heldUntil = now() + Math.min(ms, memory.maxHold);
      },
      heldForMs: async () => Math.max(0, Math.min(memory.maxHold, memory.heldUntil - now())),
    },
    journal: memoryJournal(memory),
    leases: memoryLeases(memory),
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

function memoryQueue(memory: Memory): CreateQueue {
  return {
    take: async (ticket, signal) => {
      await memory.fair.take(ticket, signal);
      const intent = ticket.intent && memory.book.intents.get(ticket.intent.mintId);
      if (intent && ticket.intent) {
        intent.deadline = memory.now() + ticket.intent.withinMs;
        memory.saved();
      }
    },
    depth: () => memory.fair.depth(),
    windowCreates: () => memory.fair.windowCreates(),
    windowFreesInMs: () => memory.fair.windowFreesInMs(),
    join: (repository, intent) => memory.fair.join(repository, intent),
    takeIdle: async () => memory.heldUntil <= memory.now() && memory.busyUntil <= memory.now() && (await memory.fair.takeIdle()),
  };
}

function memoryMints(memory: Memory): Mints {
  const { now } = memory;
  const { intents, leases } = memory.book;
  return {
    admit: async (admission: MintAdmission): Promise<Admission> => {
      const { repositoryId, idempotency } = admission;
      const held = Math.min(memory.maxHold, memory.heldUntil - now());
      if (held > 0) return { outcome: 'held', retryAfterMs: held };
      const earlier = idempotency && memory.idempotencyOf(repositoryId, idempotency.key);
      if (earlier && idempotency) {
        if (earlier.bodyHash !== idempotency.bodyHash) return { outcome: 'mismatch' };
        return earlier.sealedAnswer ? { outcome: 'replay', sealedAnswer: earlier.sealedAnswer } : { outcome: 'in-progress' };
      }
      const live = memory.liveLeases(repositoryId).length;
      const running = memory.mintsOf(repositoryId);
      if (live + running.size >= admission.liveKeys) return { outcome: 'live-keys', live, inFlight: running.size };
      memory.busyUntil = now() + memory.quietMs; // as MINT_ADMIT: a mint past these checks is arriving
      let ticket: Ticket = { leave: () => undefined };
      try {
        if (admission.queued !== false) ticket = memory.fair.admit(repositoryId);
      } catch (error) {
        // The fair queue throws only QueueFull: the turn would come past the queue timeout.
        return { outcome: 'queue-full', retryAfterMs: (error as QueueFull).retryAfterMs };
      }
      running.set(admission.mintId, now() + admission.inFlightMs);
      intents.set(admission.mintId, { deadline: now() + admission.inFlightMs, text: admission.intent });
      memory.saved();
      if (idempotency) {
        const record = {
          state: 'in-progress' as const,
          bodyHash: idempotency.bodyHash,
          sealedAnswer: undefined,
          until: now() + admission.inFlightMs,
        };
        memory.idempotent.set(`${repositoryId}:${idempotency.key}`, record);
      }
      ticket.intent = { mintId: admission.mintId, withinMs: admission.intentWithinMs };
      return { outcome: 'admitted', ticket };
    },
    handOut: async (handOut: HandOut) => {
      if (!intents.delete(handOut.mintId) && memory.claimed.has(handOut.mintId)) return false;
      leases.set(handOut.keyId, { text: handOut.signedLease, repositoryId: handOut.repositoryId, expiresAt: handOut.expiresAt });
      memory.saved();
      memory.mintsOf(handOut.repositoryId).delete(handOut.mintId);
      const { idempotency } = handOut;
      if (idempotency) {
        const { bodyHash, sealedAnswer, ttlMs } = idempotency;
        memory.idempotent.set(`${handOut.repositoryId}:${idempotency.key}`, {
          state: 'done',
          bodyHash,
          sealedAnswer,
          until: now() + ttlMs,
        });
      }
      return true;
    },
    abandon: async ({ mintId, repositoryId, idempotencyKey, dropIntent }) => {
      memory.mintsOf(repositoryId).delete(mintId);
      if (idempotencyKey) memory.idempotent.delete(`${repositoryId}:${idempotencyKey}`);
      if (dropIntent && intents.delete(mintId)) memory.saved();
    },
  };
}

function memoryJournal(memory: Memory): SharedState['journal'] {
  const { intents } = memory.book;
  return {
    overdue: async () =>
      [...intents].filter(([, intent]) => intent.deadline < memory.now()).map(([id, intent]) => ({ id, text: intent.text })),
    claim: async (id) => {
      const had = intents.delete(id);
      if (had) {
        memory.claimed.add(id);
        memory.saved();
      }
      return had;
    },
  };
}

function memoryLeases(memory: Memory): LeaseStore {
  const { leases } = memory.book;
  return {
    get: async (keyId) => leases.get(keyId)?.text,
    list: async (repositoryId) => memory.liveLeases(repositoryId).map((lease) => lease.text),
    expired: async () => {
      const gone = [...leases].filter(([, lease]) => lease.expiresAt <= memory.now());
      for (const [keyId] of gone) leases.delete(keyId);
      if (gone.length > 0) memory.saved();
      return gone.map(([, lease]) => lease.text);
    },
    update: async (keyId, signedLease) => {
      const lease = leases.get(keyId);
      if (lease) {
        lease.text = signedLease;
        memory.saved();
      }
    },
    end: async ({ keyId, repositoryId, idempotencyKey }) => {
      if (leases.delete(keyId)) memory.saved();
      if (idempotencyKey) memory.idempotent.delete(`${repositoryId}:${idempotencyKey}`);
    },
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
