import type { Config } from './inputs.js';

/** Job-summary markdown. Never given a secret: only ids, descriptions, dates and limits. */
export interface MintedSummary {
  keyId: string;
  description: string;
  expiresAt: string;
  verified: boolean;
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
  ];
  return `### Venice inference key minted\n\n${table(['', ''], rows)}\n`;
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
