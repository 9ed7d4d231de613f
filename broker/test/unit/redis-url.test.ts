// The Redis URL as Redis's security guidance asks, judged before any connection: another host without a
// password is refused (unless the config says the network protects it), redis:// to another host is
// warned about, loopback is fine as it is; what is said never holds the password.
import { expect, test } from 'vitest';
import { judgeRedisUrl } from '../../src/policy/redis-url.ts';

test.each([
  ['loopback without a password', 'redis://127.0.0.1:6379/0', false, { warn: undefined }],
  ['localhost with TLS', 'rediss://localhost', false, { warn: undefined }],
  ['another host with a password and TLS', 'rediss://broker:s3cret@redis.internal:6380/0', false, { warn: undefined }],
  [
    'another host with a password, no TLS',
    'redis://:s3cret@redis.internal',
    false,
    {
      warn: "the Redis URL in R is redis:// to another host (redis.internal:6379): its password and the broker's state cross the network in clear text. Use rediss:// (TLS).",
    },
  ],
  [
    'another host without a password',
    'rediss://redis.internal:6379',
    false,
    {
      refuse:
        'the Redis URL in R names another host (redis.internal:6379) without a password: anyone who can reach it could stop or steer every mint. Give the broker an ACL user and password (rediss://broker:password@redis.internal:6379, see docs/broker.md), or set store.allow-unauthenticated: true if the network alone protects it.',
    },
  ],
  ['another host without a password, allowed', 'rediss://redis.internal', true, { warn: undefined }],
])('%s', (_, url, allow, verdict) => {
  expect(judgeRedisUrl(url, 'R', allow)).toEqual(verdict);
  expect(JSON.stringify(judgeRedisUrl(url, 'R', allow))).not.toContain('s3cret');
});

test.each(['', 'http://redis.internal', 'redis://', 'not a url'])('%j is not a Redis URL', (url) => {
  expect(judgeRedisUrl(url, 'BROKER_REDIS_URL', false)).toEqual({
    refuse: expect.stringMatching(/^the environment variable BROKER_REDIS_URL must hold the Redis URL/),
  });
});
