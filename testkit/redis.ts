// The Redis tests' gate: they need the real redis-server (fakes/redis-server.ts). Outside CI, without it,
// they are skipped with one line saying how to install it; in CI (CI=true) its absence is a failure,
// because .ci/run installs it.
import { afterAll } from 'vitest';
import { REDIS_MISSING, RedisServer, redisServerVersion } from '../fakes/redis-server.ts';
import { gate } from './gate.ts';

export const REDIS_VERSION = redisServerVersion();

/** `test` when redis-server is here, else `test.skip`. */
export const withRedis = gate(REDIS_VERSION !== undefined, REDIS_MISSING, 'Redis tests');

/** A real redis-server for this test file, started by the test that needs it (`start()`), disposed after all. */
export function useRedisServer(): RedisServer {
  const redis = new RedisServer();
  afterAll(() => redis.dispose());
  return redis;
}

/** A broker's settings for the store in `redis` (spawnBroker and startTestBroker pass the URL in BROKER_REDIS_URL). */
export function inRedis(redis: RedisServer): { store: Record<string, unknown>; redisUrl: string } {
  return { store: { 'redis-url-env': 'BROKER_REDIS_URL' }, redisUrl: redis.url };
}
