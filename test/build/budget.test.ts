// Budgets the build keeps (deterministic: bytes and request counts, never time).
import { expect, test } from 'vitest';
import { runJob } from '../../fakes/runner.ts';
import { BUNDLE_BUDGET_BYTES, bundleFacts } from '../../scripts/bundle-facts.ts';
import { useTestBed } from '../support/bed.ts';

const bed = useTestBed();

test(`main + post load at most ${BUNDLE_BUDGET_BYTES} bytes, one copy of undici, no Octokit and no broker path`, () => {
  const facts = bundleFacts();
  expect(facts.mintPathBytes).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
  expect(facts.undiciCopies).toBe(1);
  expect(facts.octokitOnMintPath).toBe(false);
  expect(facts.brokerPathOnMintPath).toBe(false);
  // The checks can see what they look for: each lives in an on-demand chunk.
  expect(facts.octokitInLazyChunks).toBe(true);
  expect(facts.undiciInLazyChunks).toBe(true);
  expect(facts.brokerPathInLazyChunks).toBe(true);
  expect(facts.bytes['main.js']).toBeLessThan(10_000); // the entries only start the shared bundle
  expect(facts.bytes['post.js']).toBeLessThan(10_000);
});

test('the happy path sends create + verify in main and one delete in post, and no list', async () => {
  const server = bed.venice;
  await runJob({ inputs: bed.inputs() });
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'verify', 'get', 'delete']);
});

test('with verify: false main sends only the create', async () => {
  const server = bed.venice;
  const { main } = await runJob({ inputs: bed.inputs({ verify: 'false' }) });
  expect(main.exitCode).toBe(0);
  expect(server.requests.map((r) => r.call)).toEqual(['create', 'get', 'delete']);
});
