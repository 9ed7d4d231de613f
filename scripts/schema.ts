// npm run schema: (re)writes broker/config.schema.json from the settings declared in
// broker/src/policy/config-settings.ts (config-schema.ts builds it), formatted as the linter wants.
// npm run check-schema: fails with the first difference when the committed file is not what the
// declaration generates (broker/test/unit/config-schema.test.ts checks the same in npm test).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { configSchema } from '../broker/src/policy/config-schema.ts';

const root = join(import.meta.dirname, '..');
const path = join(root, 'broker', 'config.schema.json');
const fresh = configSchema();
if (process.argv.includes('--check')) {
  if (!isDeepStrictEqual(JSON.parse(readFileSync(path, 'utf8')), fresh)) {
    console.error(
      'broker/config.schema.json is not what broker/src/policy/config-settings.ts generates: run `npm run schema` and commit it.',
    );
    process.exit(1);
  }
  console.log('broker/config.schema.json matches the declared settings.');
} else {
  writeFileSync(path, `${JSON.stringify(fresh, null, 2)}\n`);
  const biome = spawnSync(join(root, 'node_modules', '.bin', 'biome'), ['format', '--write', path], { stdio: 'inherit' });
  process.exit(biome.status ?? 1);
}
