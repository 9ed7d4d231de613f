// Untrusted text can never become a workflow command. For every mode, arbitrary Unicode is put in every
// field the action does not write itself (the label, descriptions of listed keys, Venice's error texts,
// ids in a list answer) and the step's output is read by the port of the runner's parser: the commands
// the runner would process must be exactly the ones the action meant to issue, in order, and no secret
// may show outside its own add-mask line.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { expectNoLeaks } from '../../testkit/leaks.ts';
import { addOwnedKey, REPOSITORY } from '../../testkit/seed-keys.ts';
import { useTestBed } from '../support/bed.ts';
import { type InProcessResult, mainInProcess, postInProcess } from '../support/in-process.ts';

// Many mints in a minute: the creation limit is lifted (the matrix tests keep Venice's).
const bed = useTestBed({ github: true, venice: { createLimit: { count: 100_000, windowMs: 60_000 } } });

const hostile = fc.oneof(
  fc.constantFrom(
    '##[stop-commands]pause',
    '::add-mask::a',
    'x\n::set-output name=api-key::stolen',
    '\r::warning::forged',
    'a\u2028::error::forged',
    '\u0085##[save-state name=key-id]other',
    '##[warning]',
    '#',
    '%0A::warning::x',
  ),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);

function expectOnlyIntendedCommands(step: InProcessResult): void {
  const processed = step.commands.map((c) => ({ command: c.command.toLowerCase(), data: c.data }));
  expect(processed).toEqual(step.intended);
}

const RUNS = 100;

test('mint with rotate: label, older keys\u2019 descriptions and Venice error texts', async () => {
  await fc.assert(
    fc.asyncProperty(hostile, hostile, hostile, async (label, olderLabel, errorText) => {
      bed.venice.keys.clear();
      bed.github.setPull(REPOSITORY, 7, 'open');
      addOwnedKey(bed.venice, { pr: 7, scope: 'pr', slot: 'web', label: olderLabel.replace(/[\s\S]{40,}/, '') });
      bed.venice.inject('create', { kind: 'status', status: 503, error: errorText });
      const mint = await mainInProcess({
        inputs: bed.inputs({ scope: 'pr', slot: 'web', rotate: 'true', description: label, 'pr-number': '7' }),
        env: bed.env,
      });
      expect(mint.exitCode, mint.stdout).toBe(0);
      expectOnlyIntendedCommands(mint);
    }),
    { numRuns: RUNS },
  );
});

test('post: a description Venice shows for the id, and error texts', async () => {
  await fc.assert(
    fc.asyncProperty(hostile, hostile, async (shownDescription, errorText) => {
      const mint = await mainInProcess({ inputs: bed.inputs() });
      bed.venice.inject('get', { kind: 'patch-data', data: { description: shownDescription } });
      bed.venice.inject('list', { kind: 'status', status: 403, error: errorText });
      const post = await postInProcess({ inputs: bed.inputs(), state: mint.state });
      expectOnlyIntendedCommands(mint);
      expectOnlyIntendedCommands(post);
      bed.venice.keys.clear();
    }),
    { numRuns: RUNS },
  );
});

test('revoke and sweep: listed keys\u2019 descriptions, ids in a list answer, and delete error texts', async () => {
  await fc.assert(
    fc.asyncProperty(hostile, hostile, hostile, async (labelA, labelB, errorText) => {
      bed.venice.keys.clear();
      bed.github.setPull(REPOSITORY, 7, 'closed');
      addOwnedKey(bed.venice, { pr: 7, scope: 'pr', label: labelA.slice(0, 20) });
      addOwnedKey(bed.venice, { pr: 7, scope: 'job', label: labelB.slice(0, 20) });
      bed.venice.inject('delete', { kind: 'status', status: 400, error: errorText });
      const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'pr-number': '7' }), env: bed.env });
      expectOnlyIntendedCommands(revoke);
      bed.venice.inject('list', {
        kind: 'answer',
        body: { object: 'list', data: [{ id: labelA, description: labelB, expiresAt: '2031-01-01T00:00:00Z', apiKeyType: 'INFERENCE' }] },
      });
      const sweptOdd = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep' }), env: bed.env });
      expectOnlyIntendedCommands(sweptOdd);
      const sweep = await mainInProcess({ inputs: bed.inputs({ mode: 'sweep', 'dry-run': 'true' }), env: bed.env });
      expectOnlyIntendedCommands(sweep);
    }),
    { numRuns: RUNS },
  );
  expectNoLeaks(bed.venice);
});
