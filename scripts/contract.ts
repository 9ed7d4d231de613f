// npm run contract: (re)writes contract/venice-api-keys.json from Venice's spec (the first found of
// $VENICE_SWAGGER_PATH and ../shared/venice/swagger.yaml, or the path given).
// npm run check-contract: compares the committed contract with that spec and fails with a diff on
// drift; with no spec on this machine it says so and succeeds (nothing here needs the network).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CONTRACT_PATH, contractDrift, extractContract, locateSpec, readContract } from '../fakes/venice-spec.ts';

const check = process.argv.includes('--check');
const path = process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? locateSpec();
if (!path) {
  console.log('No Venice spec here (set VENICE_SWAGGER_PATH or place ../shared/venice/swagger.yaml); contract not checked.');
  process.exit(check ? 0 : 1);
}
// The commit the spec was taken from, where a README beside it says (../shared/venice/README.md does).
const readme = join(dirname(path), 'README.md');
const commit = existsSync(readme) ? /commit ([0-9a-f]{7,40})/.exec(readFileSync(readme, 'utf8'))?.[1] : undefined;
const fresh = extractContract(readFileSync(path, 'utf8'), `veniceai/api-docs swagger.yaml${commit ? ` at commit ${commit}` : ''}`);
if (check) {
  const drift = contractDrift(readContract(), fresh);
  if (drift.length === 0) {
    console.log(`contract matches ${path} (spec ${fresh.provenance.specVersion}).`);
  } else {
    console.error(
      `The Venice spec at ${path} (spec ${fresh.provenance.specVersion}) differs from ${relative(process.cwd(), CONTRACT_PATH)}:`,
    );
    for (const line of drift) console.error(`  ${line}`);
    console.error('If the change is real, run `npm run contract`, check the action still fits it, and commit both.');
    process.exit(1);
  }
} else {
  writeFileSync(CONTRACT_PATH, `${JSON.stringify(fresh, null, 2)}\n`);
  console.log(`wrote ${relative(process.cwd(), CONTRACT_PATH)} from ${path} (spec ${fresh.provenance.specVersion}).`);
}
