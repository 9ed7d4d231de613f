// The review's first finding, as the runner would see it: a PR title used as the label that is a
// legacy command (`##[stop-commands]`) or carries a line break must not switch off masking or forge a
// command. The committed dist/ runs as the runner runs it; its stdout is read by the port of the
// runner's parser (support/runner-log.ts).
import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { readRunnerLog } from '../../fakes/runner-log.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test.each([
  '##[stop-commands]pause',
  'Fix login ##[warning]forged',
  'title\n::set-output name=api-key::stolen',
  '##[save-state name=key-id]someone-elses',
])('label %j: the new key is masked, and the runner sees only the action\u2019s own commands', async (label) => {
  const { main, post } = await runJob({ inputs: bed.inputs({ description: label }) });
  expect(main.exitCode).toBe(0);
  const key = bed.venice.minted[0]!;
  const log = readRunnerLog(main.stdout);
  expect(log.masks).toContain(key.apiKey);
  expect(log.commands.map((c) => c.command)).toEqual(['add-mask', 'add-mask', 'group', 'add-mask', 'endgroup', 'group', 'endgroup']);
  expect(log.visible.join('\n')).not.toContain(key.apiKey);
  expect(main.outputs['api-key']).toBe(key.apiKey);
  expect(main.state['key-id']).toBe(key.id);
  expect(post.exitCode).toBe(0);
  expect(bed.venice.liveKeys()).toEqual([]);
});
