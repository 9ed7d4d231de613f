/**
 * The shared state kept in this process: one broker instance (the embedded default, no `store:` in the
 * config). The mint journal is a file in `store.state-dir` when one is set, so a restart after a crash
 * finds the keys the crash left behind; without one it lives in memory and a crash's orphans expire
 * with their keys (the broker says so at start).
 *
 * The journal file is written whole and atomically (a temporary file, fsync, rename), one write at a
 * time: it holds only the mints in progress, a few hundred bytes each.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { FairQueue, type FairQueueOptions } from './fair-queue.js';
import { type MintIntent, type MintJournal, maxHoldMs, type SharedState, StoreUnavailable } from './shared-state.js';

export function memoryState(options: FairQueueOptions & { stateDir: string | undefined }): SharedState {
  const { now } = options;
  const inFlight = new Map<string, Map<string, number>>();
  const current = (repository: string): Map<string, number> => {
    const mints = inFlight.get(repository) ?? new Map<string, number>();
    for (const [id, until] of mints) if (until <= now()) mints.delete(id);
    return mints;
  };
  let heldUntil = 0;
  const maxHold = maxHoldMs(options.windowMs);
  const leads = new Map<string, number>();
  const seen = new Map<string, number>();
  return {
    kind: 'memory',
    queue: new FairQueue(options),
    inFlight: {
      claim: async (repository, mintId, limit, untilMs) => {
        const mints = current(repository);
        if (mints.size >= limit) return mints.size;
        mints.set(mintId, untilMs);
        inFlight.set(repository, mints);
        return undefined;
      },
      release: async (repository, mintId) => {
        const mints = current(repository);
        mints.delete(mintId);
        if (mints.size === 0) inFlight.delete(repository);
      },
      count: async (repository) => current(repository).size,
    },
    brake: {
      holdFor: async (ms) => {
        heldUntil = Math.max(heldUntil, now() + Math.min(ms, maxHold));
      },
      holdUnlessHeld: async (ms) => {
        if (heldUntil <= now()) heldUntil = now() + Math.min(ms, maxHold);
      },
      heldForMs: async () => Math.max(0, Math.min(maxHold, heldUntil - now())),
    },
    journal: options.stateDir ? new FileJournal(options.stateDir, now) : new MemoryJournal(now),
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

/** Keys `firstTime` holds at most (webhook deliveries: a day of them, at 50,000 a day). */
const MAX_SEEN = 50_000;

class MemoryJournal implements MintJournal {
  protected readonly intents = new Map<string, MintIntent>();
  constructor(private readonly now: () => number) {}
  async intend(intent: Omit<MintIntent, 'deadline'>, withinMs: number): Promise<void> {
    this.intents.set(intent.id, { ...intent, deadline: this.now() + withinMs });
    this.saved();
  }
  async handedOut(id: string): Promise<void> {
    if (this.intents.delete(id)) this.saved();
  }
  async overdue(): Promise<MintIntent[]> {
    const now = this.now();
    return [...this.intents.values()].filter((intent) => intent.deadline < now);
  }
  protected saved(): void {}
}

/** The journal as `mint-journal.json` in the state directory; what a previous process left is read at start. */
class FileJournal extends MemoryJournal {
  private readonly path: string;
  constructor(dir: string, now: () => number) {
    super(now);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.path = join(dir, 'mint-journal.json');
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {}
    for (const intent of parseJournal(text)) this.intents.set(intent.id, { ...intent, deadline: 0 }); // a previous process's: overdue now
  }
  protected override saved(): void {
    const temporary = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ version: 1, intents: [...this.intents.values()] }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
  }
}

/** The intents in a journal file; anything that does not look like one is skipped (a torn or foreign file). */
export function parseJournal(text: string): MintIntent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const intents = (parsed as { intents?: unknown } | null)?.intents;
  return Array.isArray(intents) ? intents.filter(isIntent) : [];
}

export function isIntent(value: unknown): value is MintIntent {
  const intent = value as Partial<MintIntent> | null;
  return (
    typeof intent === 'object' &&
    intent !== null &&
    typeof intent.id === 'string' &&
    typeof intent.tag === 'string' &&
    typeof intent.repository === 'string' &&
    typeof intent.runId === 'string' &&
    typeof intent.deadline === 'number'
  );
}
