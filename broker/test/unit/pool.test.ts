// The warm pool's own rules, against the Venice test server and the in-process state on a clock the test
// moves: it refills only with idle turns (never while a caller waits or Venice holds the broker off,
// never past the account's active keys less the margin), one look at a time; it replaces keys near the end
// of their life; a key given back after the pool stopped is deleted; a refill that fails is said once;
// reap deletes the pool keys of replicas that stopped, and no other key.

import { afterEach, beforeEach, expect, test } from 'vitest';
import { VeniceServer } from '../../../fakes/venice-server.ts';
import { fastPolicy } from '../../../testkit/fast-policy.ts';
import { waitUntil } from '../../../testkit/wait.ts';
import { KeyListing } from '../../src/keys/key-listing.ts';
import { POOL_MARGIN, poolKeyOwner, WarmPool } from '../../src/keys/pool.ts';
import { memoryState } from '../../src/state/memory-state.ts';
import type { SharedState } from '../../src/state/shared-state.ts';
import { veniceClientOf } from '../support/builders.ts';

let now = Date.UTC(2026, 11, 2, 10);
let venice: VeniceServer;
let state: SharedState;
let logs: string[];
let sizes: number[];

beforeEach(async () => {
  now = Date.UTC(2026, 11, 2, 10);
  venice = await new VeniceServer({ clock: () => now, createLimit: { count: 20, windowMs: 60_000 } }).start();
  state = memoryState({ perWindow: 3, windowMs: 60_000, timeoutMs: 120_000, now: () => now, sleep: async () => {}, stateDir: undefined });
  logs = [];
  sizes = [];
});
afterEach(async () => {
  await state.close();
  await venice.stop();
});

function pool(size: number, activeKeys = 500): WarmPool {
  const client = () => veniceClientOf(venice, { now: () => now, policy: { ...fastPolicy(), maxAttempts: 1 } });
  return new WarmPool({
    size,
    maxAgeMs: 30 * 60_000,
    activeKeys,
    perWindow: 3,
    state,
    venice: client,
    listing: new KeyListing(
      () => client().listKeys(),
      0,
      () => now,
    ),
    log: { info: (line) => logs.push(line), warning: (line) => logs.push(line) },
    now: () => now,
    tickMs: 60_000,
    sized: (size) => sizes.push(size),
  });
}

const pooled = () => venice.liveKeys().filter((key) => poolKeyOwner(key.description) !== undefined);

test('it refills with idle turns only: the window caps it, a waiting caller stops it, and so does a hold', async () => {
  const warm = pool(5);
  await warm.tick();
  // The window has 3 turns: 3 keys, inert, naming this replica.
  expect(warm.size()).toBe(3);
  const own = { deployment: state.deployment, replica: state.replica };
  expect(pooled().map((key) => poolKeyOwner(key.description))).toEqual([own, own, own]);
  expect(pooled().every((key) => key.consumptionLimit.usd === 0 && key.consumptionLimit.diem === 0 && key.limitPeriod === 'LIFETIME')).toBe(
    true,
  );
  now += 62_000;
  const admitted = await state.mints.admit({
    mintId: 'm1',
    repositoryId: 'r1',
    liveKeys: 10,
    inFlightMs: 60_000,
    intent: 'i',
    intentWithinMs: 60_000,
    idempotency: undefined,
  });
  expect(admitted.outcome).toBe('admitted');
  await warm.tick();
  expect(warm.size()).toBe(3); // a caller waits: no refill
  if (admitted.outcome === 'admitted') admitted.ticket.leave();
  await state.brake.holdFor(30_000);
  await warm.tick();
  expect(warm.size()).toBe(3); // Venice holds the broker off: no refill
  now += 31_000;
  await warm.tick();
  expect(warm.size()).toBe(5);
  expect(sizes.at(-1)).toBe(5);
  await warm.close();
  expect(pooled()).toEqual([]);
});

test('it stays under the active-key limit less the margin, counting every key of the account', async () => {
  for (let i = 0; i < 8; i++) venice.addKey({ description: `someone else's ${i}` });
  const warm = pool(3, 8 + POOL_MARGIN + 1);
  await warm.tick();
  expect(warm.size()).toBe(1);
  await warm.close();
});

test('a full window costs Venice no listing: the store is asked first', async () => {
  const warm = pool(5);
  await warm.tick(); // the window's 3 turns
  const listings = venice.count('list');
  await warm.tick();
  await warm.tick();
  expect(warm.size()).toBe(3);
  expect(venice.count('list')).toBe(listings);
  await warm.close();
});

test('keys near the end of their life are replaced; take skips them; a key given back after close is deleted', async () => {
  const warm = pool(2);
  await warm.tick();
  const first = pooled().map((key) => key.id);
  now += 29.5 * 60_000; // half a minute left: too little for a mint
  expect(warm.take()).toBeUndefined();
  await warm.tick();
  expect(first.some((id) => venice.keys.has(id))).toBe(false);
  expect(warm.size()).toBe(2);
  const taken = warm.take();
  expect(taken).toBeDefined();
  await warm.close();
  warm.giveBack(taken as NonNullable<typeof taken>);
  await waitUntil(() => !venice.keys.has(taken?.id as string), 'the key given back after close to be deleted');
  expect(venice.keys.has(taken?.id as string)).toBe(false);
});

test('a refill that fails is said once, and the pool tries again at its next look', async () => {
  const warm = pool(1);
  venice.inject('create', { kind: 'status', status: 400, error: 'bad' }, 2);
  await warm.tick();
  now += 61_000;
  await warm.tick();
  expect(logs.filter((line) => line.startsWith('the pool could not refill'))).toHaveLength(1);
  now += 61_000;
  await warm.tick();
  expect(warm.size()).toBe(1);
  await warm.close();
});

test('reap deletes pool keys of its own deployment’s stopped replicas, never its own, another deployment’s or any other key', async () => {
  const warm = pool(1);
  await warm.tick();
  const dead = venice.addKey({ description: `vek:pool ${state.deployment} 11111111-2222-4333-8444-555555555555 abcdef` });
  const otherBroker = venice.addKey({ description: 'vek:pool 0badcafe 11111111-2222-4333-8444-555555555555 abcdef' });
  const other = venice.addKey({ description: 'vek:octo-org/shop job r1.1 abcdef' });
  const lookalike = venice.addKey({ description: `vek:pool ${state.deployment} not-a-replica abcdef` });
  expect(await warm.reap()).toBe(1);
  expect(venice.keys.has(dead.id)).toBe(false);
  const kept = [otherBroker, other, lookalike];
  expect(kept.every((key) => venice.keys.has(key.id))).toBe(true);
  expect(warm.size()).toBe(1);
  expect(logs).toContain('deleted 1 pool key(s) of stopped replicas');
  for (const key of kept) venice.keys.delete(key.id);
  await warm.close();
});

test('a key given back goes to the front; a delete Venice refuses is said; a refill whose answer was lost deletes what it made', async () => {
  const warm = pool(1);
  await warm.tick();
  const taken = warm.take() as NonNullable<ReturnType<WarmPool['take']>>;
  expect(warm.size()).toBe(0);
  warm.giveBack(taken);
  expect(warm.take()?.id).toBe(taken.id);
  venice.inject('delete', { kind: 'status', status: 500 });
  await warm.discard(taken, 'a test');
  expect(logs.some((line) => line.startsWith(`could not delete pool key ${taken.id} (a test)`))).toBe(true);
  await warm.discard(taken, 'a test');
  // The create is made at Venice but its answer is cut: the key is found by its description and deleted.
  now += 61_000;
  venice.inject('create', { kind: 'reset-after' });
  await warm.tick();
  expect(warm.size()).toBe(0);
  expect(pooled()).toEqual([]);
  await warm.close();
});
