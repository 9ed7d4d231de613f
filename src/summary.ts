import type { ActionIO } from './action-io.js';
import { messageOf } from './errors.js';
import type { Config } from './inputs.js';

/** Job-summary markdown. Never given a secret: only ids, descriptions, dates and limits. */
export interface MintedSummary {
  keyId: string;
  description: string;
  expiresAt: string;
  verified: boolean;
  /** Ids of older keys of the same PR deleted by rotate. */
  rotated: string[];
}

/** The summary is a courtesy: failing to write it must not fail a step that did its work. */
export async function writeSummary(io: ActionIO, markdown: string): Promise<void> {
  try {
    await io.appendSummary(markdown);
  } catch (error) {
    io.warning(`could not write the job summary (${messageOf(error)}).`);
  }
}

export function mintSummary(key: MintedSummary, config: Config): string {
  const rows: [string, string][] = [
    ['Key id', code(key.keyId)],
    ['Description', code(key.description)],
    ['Expires', `${key.expiresAt}`],
    ['USD limit', limitText(config.usdLimit, config.limitPeriod)],
    ['DIEM limit', limitText(config.diemLimit, config.limitPeriod)],
    ['Model privacy', config.modelPrivacy ?? 'Venice default (ALL)'],
    ['Verified', key.verified ? 'yes' : 'not checked (verify: false)'],
    ['After the job', config.skipDelete ? 'kept until it expires (skip-delete)' : 'deleted by the post step'],
    ...(config.rotate
      ? [['Rotated out', key.rotated.length === 0 ? 'no older key' : key.rotated.map(code).join(', ')] as [string, string]]
      : []),
  ];
  return `### Venice inference key minted\n\n${table(['', ''], rows)}\n`;
}

/** One row per key: id, description, expiry, and (for sweep) its PR's state. Never a secret. */
export function keyTable<K extends { id: string; description: string; expiresAt: string | null }>(
  keys: K[],
  prState?: (key: K) => string,
): string {
  if (keys.length === 0) return '_none_';
  const header = ['Key id', 'Description', 'Expires', ...(prState ? ['PR state'] : [])];
  const rows = keys.map((key) => [code(key.id), code(key.description), key.expiresAt ?? 'never', ...(prState ? [prState(key)] : [])]);
  return table(header, rows);
}

export function limitText(limit: number | null, period: Config['limitPeriod']): string {
  if (limit === null) return 'unlimited';
  const per = { EPOCH: 'per UTC day', MONTH: 'per month', LIFETIME: 'for the key’s lifetime' }[period];
  return `${limit} ${per}`;
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function code(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}
