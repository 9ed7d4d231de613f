// Compares two builds of dist/ file by file: what check-dist (CI) and the freshness test rely on.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Names of files that differ, are missing, or are extra in `actual` compared with `expected`. */
export function distDifferences(expected: string, actual: string): string[] {
  const names = new Set([...listFiles(expected), ...listFiles(actual)]);
  const differences: string[] = [];
  for (const name of [...names].sort()) {
    const a = join(expected, name);
    const b = join(actual, name);
    if (!existsSync(a)) differences.push(`${name}: not in the fresh build`);
    else if (!existsSync(b)) differences.push(`${name}: missing from dist/`);
    else if (!readFileSync(a).equals(readFileSync(b))) differences.push(`${name}: differs`);
  }
  return differences;
}

function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  );
}
