import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { expectNotShown } from '../../testkit/leaks.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test('a wrong admin key fails with a message saying it is wrong, expired or revoked', async () => {
  const server = bed.venice;
  const wrongKey = 'VENICE_ADMIN_KEY_not-the-right-one-1234567890';
  const { main, post } = await runJob({ inputs: bed.inputs({ 'admin-key': wrongKey }) });

  expect(main.exitCode).toBe(1);
  expect(main.errors).toHaveLength(1);
  expect(main.errors[0]).toMatch(
    /^venice-ephemeral-key: Venice refused the admin key \(401\)\..* The key in admin-key is wrong, expired or revoked: check the value stored in the secret\.$/,
  );
  expect(main.errors[0]).toContain('wrong, expired or revoked');
  expect(main.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  expect(server.count('create')).toBe(1); // a 401 is never retried
  expect(server.liveKeys()).toEqual([]);
  expect(post.exitCode).toBe(0);
  expectNotShown([wrongKey]);
});
