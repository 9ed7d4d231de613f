import { afterEach, expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { VeniceServer } from '../../fakes/venice-server.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();
let elsewhere: VeniceServer | undefined;
afterEach(async () => {
  await elsewhere?.stop();
});

test('a redirect is never followed, so the admin key is never sent to another host', async () => {
  const server = bed.venice;
  elsewhere = await new VeniceServer().start();
  server.inject('create', { kind: 'redirect', location: `${elsewhere.apiUrl}/api_keys` });

  const { main, post } = await runJob({ inputs: bed.inputs() });
  expect(main.exitCode).toBe(1);
  expect(main.errors).toEqual([expect.stringContaining('creating the key failed with HTTP 307')]);
  expect(elsewhere.requests).toEqual([]);
  expect(server.count('create')).toBe(1); // a redirect is not retried either
  expect(post.exitCode).toBe(0);
  expect(server.liveKeys()).toEqual([]);
});
