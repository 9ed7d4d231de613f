// Every repository path the docs name in backticks exists: README, CONTRIBUTING, SECURITY, CHANGELOG,
// test/README.md (its `../` paths from test/) and docs/. A path is a backticked token starting with one
// of the repository's top folders (or `../` in test/README.md); placeholders (<…>, *, {…}), URLs and
// code blocks are skipped, and a ":line" or "#anchor" suffix is dropped. A made-up path is caught
// (positive control).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { REPO } from '../../fakes/runner.ts';

const DOCS = ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'CHANGELOG.md', 'test/README.md']
  .concat(readdirSync(join(REPO, 'docs')).map((name) => `docs/${name}`))
  .filter((doc) => doc.endsWith('.md') && existsSync(join(REPO, doc)));
const TOPS = readdirSync(REPO, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'test-artifacts')
  .map((entry) => entry.name);
const PATH = new RegExp(`^(?:\\.\\./)*(?:${TOPS.map((top) => top.replace('.', '\\.')).join('|')})/[^\\s*<>{}]*$`);

/** The paths `text` (a document at `doc`) names that do not exist. */
function missingPaths(doc: string, text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '');
  const missing: string[] = [];
  for (const [, token] of prose.matchAll(/`([^`\n]+)`/g)) {
    const path = (token as string)
      .trim()
      .replace(/[:#].*$/, '')
      .replace(/[.,;)]+$/, '');
    if (!PATH.test(path) || (token as string).includes('://')) continue;
    const base = path.startsWith('../') ? dirname(join(REPO, doc)) : REPO;
    if (!existsSync(join(base, path))) missing.push(`${doc}: ${path}`);
  }
  return missing;
}

test('every path the docs name exists', () => {
  expect(DOCS.length).toBeGreaterThanOrEqual(6);
  const named = DOCS.flatMap((doc) => [
    ...readFileSync(join(REPO, doc), 'utf8').matchAll(/`(?:broker|src|core|test|docs|fakes|scripts)\//g),
  ]);
  expect(named.length).toBeGreaterThan(50);
  expect(DOCS.flatMap((doc) => missingPaths(doc, readFileSync(join(REPO, doc), 'utf8')))).toEqual([]);
});

test('a path that does not exist is caught, in prose and from test/README.md', () => {
  expect(missingPaths('README.md', 'See `src/safe-text.ts` and `broker/src/http/app.ts:12`, not `<owner>/x`.')).toEqual([
    'README.md: src/safe-text.ts',
  ]);
  expect(missingPaths('test/README.md', 'The `../broker/test/nothing.test.ts` file.')).toEqual([
    'test/README.md: ../broker/test/nothing.test.ts',
  ]);
});
