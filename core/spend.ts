/**
 * What a key can spend, and what it spent. A cap applies per limit period, so a key alive across a
 * period boundary can spend its cap once in each period it touches: an EPOCH key living from 23:30 to
 * 00:30 UTC may spend twice its cap. LIFETIME caps the key's whole life once.
 */
import type { LimitPeriod } from './key-request.js';

const DAY_MS = 86_400_000;

/** How many limit periods the span [from, to) touches. */
export function periodsTouched(period: LimitPeriod, fromMs: number, toMs: number): number {
  const last = Math.max(fromMs, toMs - 1);
  if (period === 'LIFETIME') return 1;
  if (period === 'EPOCH') return Math.floor(last / DAY_MS) - Math.floor(fromMs / DAY_MS) + 1;
  const month = (ms: number): number => new Date(ms).getUTCFullYear() * 12 + new Date(ms).getUTCMonth();
  return month(last) - month(fromMs) + 1;
}

export interface Ceiling {
  cap: number | null;
  period: LimitPeriod;
  /** null: no cap, the key can spend without limit. */
  most: number | null;
  periods: number;
}

/** The most a key with this cap can spend over a life from `fromMs` to `toMs`. */
export function spendCeiling(key: { cap: number | null; period: LimitPeriod; fromMs: number; toMs: number }): Ceiling {
  const periods = periodsTouched(key.period, key.fromMs, key.toMs);
  return { cap: key.cap, period: key.period, most: key.cap === null ? null : roundAmount(key.cap * periods), periods };
}

/** Money and DIEM to four places, as Venice reports them. */
export function roundAmount(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

export function ceilingText(ceiling: Ceiling, unit: 'USD' | 'DIEM'): string {
  if (ceiling.most === null) return `no cap: the key can spend ${unit} without limit`;
  if (ceiling.period === 'LIFETIME') return `${ceiling.most} ${unit} (a lifetime cap)`;
  const [one, many] = ceiling.period === 'EPOCH' ? ['UTC day', 'UTC days'] : ['calendar month (UTC)', 'calendar months (UTC)'];
  return `${ceiling.most} ${unit} (${ceiling.cap} per ${one}; its life touches ${ceiling.periods} ${ceiling.periods === 1 ? one : many})`;
}
