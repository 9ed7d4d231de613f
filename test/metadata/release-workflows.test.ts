// The release and image workflows do what the README promises, with least privilege: every third-party
// action pinned by a full commit SHA (with its version beside it, for Dependabot and for people), no
// token left in a checkout, no install scripts where a token could write, the bundles checked and
// attested, the broker image multi-platform with an SBOM and provenance, and signed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parse } from 'yaml';
import { REPO } from '../../fakes/runner.ts';

type Step = { uses?: string; run?: string; with?: Record<string, unknown> };
type Workflow = { permissions?: unknown; jobs: Record<string, { permissions?: Record<string, string>; steps: Step[] }> };
const dir = join(REPO, '.github', 'workflows');
const read = (name: string): { text: string; workflow: Workflow } => {
  const text = readFileSync(join(dir, name), 'utf8');
  return { text, workflow: parse(text) as Workflow };
};
const steps = (workflow: Workflow): Step[] => Object.values(workflow.jobs).flatMap((job) => job.steps);

const PINNED = /uses: [\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/;

test('every third-party action in every workflow is pinned by a full commit SHA, with its version in a comment', () => {
  expect('      - uses: actions/checkout@v4').not.toMatch(PINNED); // positive control: a tag is not a pin
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.yml'))) {
    const { text } = read(name);
    for (const line of text.split('\n').filter((l) => /uses: [^.]/.test(l))) {
      expect(line, `${name}: ${line.trim()}`).toMatch(PINNED);
    }
  }
});

test('release: read-only verification without install scripts, then publish with provenance and no stored credentials', () => {
  const { workflow } = read('release.yml');
  expect(workflow.permissions).toEqual({});
  expect(workflow.jobs.verify?.permissions).toEqual({ contents: 'read' });
  expect(workflow.jobs.publish?.permissions).toEqual({ contents: 'write', 'id-token': 'write', attestations: 'write' });
  for (const step of steps(workflow).filter((s) => s.uses?.startsWith('actions/checkout@'))) {
    expect(step.with?.['persist-credentials']).toBe(false);
  }
  const verify = workflow.jobs.verify?.steps.map((s) => s.run).filter(Boolean);
  expect(verify).toEqual(['npm ci --ignore-scripts', 'node scripts/check-dist.ts']); // check-dist covers dist/ and broker/dist/
  expect(workflow.jobs.publish?.steps.some((s) => s.run?.includes('npm'))).toBe(false);
  const attest = workflow.jobs.publish?.steps.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'));
  expect(String(attest?.with?.['subject-path'])).toMatch(/dist\/\*\.js\nbroker\/dist\/server\.js/);
});

test('broker image: amd64 and arm64, pushed with an SBOM and provenance, attested and signed keylessly by digest', () => {
  const { workflow } = read('broker-image.yml');
  expect(workflow.permissions).toEqual({});
  expect(workflow.jobs.image?.permissions).toEqual({ contents: 'read', packages: 'write', 'id-token': 'write', attestations: 'write' });
  const all = steps(workflow);
  const build = all.find((s) => s.uses?.startsWith('docker/build-push-action@'));
  expect(build?.with).toMatchObject({
    file: 'broker/Dockerfile',
    platforms: 'linux/amd64,linux/arm64',
    push: true,
    sbom: true,
    provenance: 'mode=max',
  });
  expect(all.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'))?.with).toMatchObject({ 'push-to-registry': true });
  expect(all.some((s) => s.uses?.startsWith('sigstore/cosign-installer@'))).toBe(true);
  expect(all.find((s) => s.run?.includes('cosign sign'))?.run).toBe('cosign sign --yes "$IMAGE@$DIGEST"');
});
