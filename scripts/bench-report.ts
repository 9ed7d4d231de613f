// What the benchmarks print with: medians and spreads, a verdict against a target, a plain table.
export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
export const spread = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });
export const ms = (s: { median: number; min: number; max: number }): string =>
  `${s.median.toFixed(0)} ms (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
export const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
/** The value below which `share` of the values lie (0.99: the 99th percentile). */
export const percentile = (values: number[], share: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] as number;
};

export function printTable(title: string, rows: string[][]): void {
  console.log(`\n${title}`);
  const width = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((row) => (row[i] as string).length)));
  for (const row of rows) console.log(`  ${row.map((cell, i) => cell.padEnd(width[i] as number)).join('  ')}`);
}
