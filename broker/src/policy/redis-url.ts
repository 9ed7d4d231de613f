/**
 * The Redis URL an operator gave, judged as Redis's own security guidance asks: across hosts, never
 * without a password (an ACL user's, or the default user's), unless the config says the network alone
 * protects it (store.allow-unauthenticated); plain redis:// to another host is warned about (rediss://
 * is TLS). Judged before any connection is made. What is said names the address, never the password.
 */
import { isLoopbackHost } from '../../../core/http.js';

export type RedisUrlVerdict = { refuse: string } | { warn: string | undefined };

export function judgeRedisUrl(url: string, variable: string, allowUnauthenticated: boolean): RedisUrlVerdict {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {}
  if (!parsed || !/^rediss?:$/.test(parsed.protocol) || parsed.hostname === '') {
    return {
      refuse: `the environment variable ${variable} must hold the Redis URL, as store.redis-url-env in the config asks, e.g. rediss://broker:password@redis.internal:6379/0 (redis:// without TLS); it is empty or not a redis:// URL.`,
    };
  }
  if (isLoopbackHost(parsed.hostname)) return { warn: undefined };
  const address = `${parsed.hostname}:${parsed.port || '6379'}`;
  if (parsed.password === '' && !allowUnauthenticated) {
    return {
      refuse: `the Redis URL in ${variable} names another host (${address}) without a password: anyone who can reach it could stop or steer every mint. Give the broker an ACL user and password (rediss://broker:password@${address}, see docs/broker.md), or set store.allow-unauthenticated: true if the network alone protects it.`,
    };
  }
  return {
    warn:
      parsed.protocol === 'redis:'
        ? `the Redis URL in ${variable} is redis:// to another host (${address}): its password and the broker's state cross the network in clear text. Use rediss:// (TLS).`
        : undefined,
  };
}
