import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateAction } from '@actions/languageservice/validate-action';
import { expect, test } from 'vitest';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { parse } from 'yaml';
import { REPO } from '../../fakes/runner.ts';

let calls = 0;
async function diagnostics(text: string): Promise<string[]> {
  // A new URI each call: the language service caches what it parsed by URI.
  const document = TextDocument.create(`file://${join(REPO, `check-${++calls}`, 'action.yml')}`, 'yaml', 1, text);
  return (await validateAction(document)).map((d) => `${d.range.start.line + 1}: ${d.message}`);
}

test("action.yml passes GitHub's own action-metadata validation (@actions/languageservice)", async () => {
  expect(await diagnostics(readFileSync(join(REPO, 'action.yml'), 'utf8'))).toEqual([]);
});

test('the validation does catch a broken action.yml', async () => {
  const broken = readFileSync(join(REPO, 'action.yml'), 'utf8').replace('icon: lock', 'icon: key');
  expect(await diagnostics(broken)).not.toEqual([]);
});

test("the action's description fits a Marketplace listing (under 125 characters)", () => {
  const description = (parse(readFileSync(join(REPO, 'action.yml'), 'utf8')) as { description: string }).description;
  expect(description.length).toBeLessThan(125);
  expect(description).toMatch(/Venice/);
});
