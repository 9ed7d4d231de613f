// A run key through the broker, in-process: jobs of the run open the handle through the broker (the
// action holds no key to open it with), a job of another run cannot, and the last job revokes it.
import { expect, test } from 'vitest';
import { useBrokerBed } from '../../broker/test/support/broker-bed.ts';
import { REPOSITORY } from '../../testkit/seed-keys.ts';
import { mainInProcess } from '../support/in-process.ts';

const bed = useBrokerBed();

test('use and revoke a run key through the broker; another run is refused', async () => {
  const mint = await mainInProcess({ inputs: bed.inputs({ scope: 'run' }), env: bed.jobEnv() });
  const handle = mint.outputs['key-handle'] as string;
  const key = bed.venice.minted[0];

  const use = await mainInProcess({
    inputs: bed.inputs({ mode: 'use', 'key-handle': handle, 'export-env': 'VENICE_API_KEY' }),
    env: bed.jobEnv(),
  });
  expect(use.errors).toEqual([]);
  expect(use.outputs['api-key']).toBe(key?.apiKey);
  expect(use.env.VENICE_API_KEY).toBe(key?.apiKey);

  const otherRun = await mainInProcess({
    inputs: bed.inputs({ mode: 'use', 'key-handle': handle }),
    env: { GITHUB_RUN_ID: '18234567891', ...bed.jobEnv(REPOSITORY, { run_id: '18234567891' }) },
  });
  expect(otherRun.errors).toEqual([
    expect.stringMatching(
      /the broker's policy refused opening the run's key-handle \(403\)\. The broker said: "key-handle was made in run 18234567890, and this is run 18234567891/,
    ),
  ]);
  expect(otherRun.outputs).toEqual({});

  const revoke = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'key-handle': handle }), env: bed.jobEnv() });
  expect(revoke.errors).toEqual([]);
  expect(revoke.outputs).toMatchObject({ 'deleted-count': '1', 'deleted-ids': key?.id, 'spent-usd': '0' });
  const again = await mainInProcess({ inputs: bed.inputs({ mode: 'revoke', 'key-handle': handle }), env: bed.jobEnv() });
  expect(again.stdout).toContain(`The run's key ${key?.id} was already gone.`);
  expect(bed.venice.liveKeys()).toEqual([]);
});
