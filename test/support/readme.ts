// The README's workflow recipes, for actionlint (test/metadata) and for running them (test/recipes).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../fakes/runner.ts';

/** ```yaml blocks of the README that are whole workflows (they have `jobs:`). */
export function readmeWorkflows(): { name: string; text: string }[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((match) => match[1] ?? '')
    .filter((text) => /^jobs:/m.test(text))
    .map((text) => ({ name: /^name: (.+)$/m.exec(text)?.[1] ?? 'unnamed', text }));
}
