/**
 * Job-summary Markdown. Never given a secret: only ids, descriptions, dates, limits and spend. Text the
 * action did not write (descriptions, ids) goes into cells through markdownCell.
 */

import type { Spent } from '../../core/delete-keys.js';
import { messageOf } from '../../core/errors.js';
import { markdownCell } from '../../core/safe-text.js';
import { ceilingText, spendCeiling } from '../../core/spend.js';
import type { ActionIO } from './action-io.js';
import type { Config } from './inputs.js';

export interface MintedSummary {
  keyId: string;
  description: string;
  expiresAt: string;
  verified: boolean;
  /** Ids of older keys of the same PR slot deleted by rotate. */
  rotated: string[];
  mintedAt: number;
  /** Minted through the broker: the rule that granted it, and what its ceilings lowered (untrusted text). */
  broker?: { rule: string; clamped: string[] };
}

/** The summary is a courtesy: failing to write it must not fail a step that did its work. */
export async function writeSummary(io: ActionIO, markdown: string): Promise<void> {
  try {
    await io.appendSummary(markdown);
  } catch (error) {
    io.warning(`could not write the job summary (${messageOf(error)}).`);
  }
}

const AFTER_THE_JOB = {
  job: 'deleted by the post step',
  run: "kept for the run's other jobs; deleted by mode: revoke with the key-handle",
  pr: 'kept while the PR is open; deleted by mode: revoke (PR closed) or sweep',
};

export function mintSummary(key: MintedSummary, config: Config): string {
  const life = { period: config.limitPeriod, fromMs: key.mintedAt, toMs: Date.parse(key.expiresAt) };
  const ceiling = (cap: number | null, unit: 'USD' | 'DIEM'): string => ceilingText(spendCeiling({ ...life, cap }), unit);
  const rows: [string, string][] = [
    ['Key id', markdownCell(key.keyId)],
    ['Description', markdownCell(key.description)],
    ['Scope', config.scope],
    ['Expires', key.expiresAt],
    ['USD limit', limitText(config.usdLimit, config.limitPeriod)],
    ['DIEM limit', limitText(config.diemLimit, config.limitPeriod)],
    ['Most it can spend', `${ceiling(config.usdLimit, 'USD')}; ${ceiling(config.diemLimit, 'DIEM')}`],
    ['Model privacy', config.modelPrivacy ?? 'Venice default (ALL)'],
    ['Verified', key.verified ? 'yes' : 'not checked (verify: false)'],
    ['After the job', config.scope === 'job' && config.skipDelete ? 'kept until it expires (skip-delete)' : AFTER_THE_JOB[config.scope]],
    ...(key.broker
      ? ([
          ['Granted by', `the broker's rule ${markdownCell(key.broker.rule)}`],
          ...(key.broker.clamped.length > 0 ? [['Lowered to the policy', key.broker.clamped.map(markdownCell).join('<br>')]] : []),
        ] as [string, string][])
      : []),
    ...(config.rotate
      ? [['Rotated out', key.rotated.length === 0 ? 'no older key' : key.rotated.map(markdownCell).join(', ')] as [string, string]]
      : []),
  ];
  return `### Venice inference key minted\n\n${table(['', ''], rows)}\n`;
}

export function useSummary(keyId: string, description: string, expiresAt: string, verified: boolean): string {
  const rows: [string, string][] = [
    ['Key id', markdownCell(keyId)],
    ['Description', markdownCell(description)],
    ['Expires', markdownCell(expiresAt)],
    ['Verified', verified ? 'yes' : 'not checked (verify: false)'],
  ];
  return `### Venice run key in use\n\n${table(['', ''], rows)}\n`;
}

export function postSummary(keyId: string, outcome: 'deleted' | 'already-gone', spent: Spent | undefined): string {
  const rows: [string, string][] = [
    ['Key id', markdownCell(keyId)],
    ['Outcome', outcome === 'deleted' ? 'deleted' : 'already gone'],
    ['Spent (trailing seven days)', spent ? `${spent.usd} USD, ${spent.diem} DIEM` : 'not known (the key could not be read)'],
  ];
  return `### Venice inference key deleted\n\n${table(['', ''], rows)}\n`;
}

/** One row per key: id, description, expiry, and why it was deleted or kept. Never a secret. */
export function keyTable<K extends { id: string; description: string; expiresAt: string | null }>(
  keys: K[],
  why?: (key: K) => string,
): string {
  if (keys.length === 0) return '_none_';
  const header = ['Key id', 'Description', 'Expires', ...(why ? ['Why'] : [])];
  const rows = keys.map((key) => [
    markdownCell(key.id),
    markdownCell(key.description),
    markdownCell(key.expiresAt ?? 'never'),
    ...(why ? [markdownCell(why(key))] : []),
  ]);
  return table(header, rows);
}

export function limitText(limit: number | null, period: Config['limitPeriod']): string {
  if (limit === null) return 'unlimited';
  const per = { EPOCH: 'per UTC day', MONTH: 'per month', LIFETIME: 'for the key\u2019s lifetime' }[period];
  return `${limit} ${per}`;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
