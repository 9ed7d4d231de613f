// The README's Inputs and Outputs tables list exactly what action.yml declares, with the same defaults.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { REPO } from '../../fakes/runner.ts';

const action = parse(readFileSync(join(REPO, 'action.yml'), 'utf8')) as {
  inputs: Record<string, { default?: string; required?: boolean; description: string }>;
  outputs: Record<string, { description: string }>;
};
const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

/** Rows of the first table under `## heading`: cells with their backticks removed. */
function tableUnder(heading: string): string[][] {
  const section = readme.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) =>
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim().replace(/^`(.*)`$/, '$1')),
    );
}

test('every input, in action.yml order, with its default', () => {
  const documented = tableUnder('Inputs').map(([name, defaultText]) => [name, defaultText]);
  const declared = Object.entries(action.inputs).map(([name, spec]) => [
    name,
    spec.required ? '(required)' : spec.default === '' || spec.default === undefined ? 'empty' : spec.default,
  ]);
  expect(documented).toEqual(declared);
});

test('every output, in action.yml order', () => {
  expect(tableUnder('Outputs').map(([name]) => name)).toEqual(Object.keys(action.outputs));
});

test('every input and output in action.yml has a description', () => {
  for (const spec of [...Object.values(action.inputs), ...Object.values(action.outputs)])
    expect(spec.description.length).toBeGreaterThan(10);
});

/** The description cell of every row of the table under `## heading`, by name. */
function descriptions(heading: string): Record<string, string> {
  const section = readme.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0] ?? '';
  return Object.fromEntries(
    section
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => {
        const cells = line.slice(1, -1).split(' | ');
        return [(cells[0] ?? '').trim().replace(/^`(.*)`$/, '$1'), (cells.at(-1) ?? '').trim()];
      }),
  );
}

test("every input's and output's description is the same text in action.yml and the README", () => {
  const inputs = Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, spec.description]));
  const outputs = Object.fromEntries(Object.entries(action.outputs).map(([name, spec]) => [name, spec.description]));
  expect(descriptions('Inputs')).toEqual(inputs);
  expect(descriptions('Outputs')).toEqual(outputs);
  // Positive control: one word changed on one side is caught.
  expect({ ...inputs, 'expires-in': `${inputs['expires-in']} (changed)` }).not.toEqual(descriptions('Inputs'));
});
