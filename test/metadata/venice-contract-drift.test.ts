// The committed Venice contract against Venice's full spec, when one is on this machine
// ($VENICE_SWAGGER_PATH or ../shared/venice/swagger.yaml): any drift fails with the schema paths that
// differ. With no spec at hand these tests are skipped, saying why: nothing here needs the network.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { contractDrift, extractContract, locateSpec, readContract } from '../../fakes/venice-spec.ts';

const spec = locateSpec();
const withSpec = spec ? test : test.skip;

withSpec(`the committed contract matches the spec (${spec ?? 'no spec here: set VENICE_SWAGGER_PATH to check'})`, () => {
  const fresh = extractContract(readFileSync(spec!, 'utf8'), 'spec');
  expect(contractDrift(readContract(), fresh)).toEqual([]);
  expect(readContract().provenance.sha256).toBe(fresh.provenance.sha256);
});

withSpec(`an edited spec is caught, naming the path that changed${spec ? '' : ' (no spec here: set VENICE_SWAGGER_PATH to check)'}`, () => {
  const edited = readFileSync(spec!, 'utf8').replace(/(description:\n\s+type: string\n\s+)maxLength: 64/, '$1maxLength: 65');
  expect(edited).not.toBe(readFileSync(spec!, 'utf8'));
  expect(contractDrift(readContract(), extractContract(edited, 'edited'))).toEqual([
    'schemas.createRequest.properties.description.maxLength: committed 64, spec has 65',
  ]);
});

test('the contract on disk is whole: every schema the test server uses, with its provenance', () => {
  const contract = readContract();
  expect(Object.keys(contract.schemas).sort()).toEqual([
    'createRequest',
    'createResponse',
    'deleteResponse',
    'getResponse',
    'listResponse',
    'rateLimitsResponse',
    'updateRequest',
    'updateResponse',
  ]);
  expect(contract.provenance.sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(contract.provenance.specVersion).toMatch(/^\d{8}\.\d{6}$/);
});
