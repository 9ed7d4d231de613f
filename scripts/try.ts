// npm run try -- --input expires-in=2h --input usd-limit=1 [--input mode=…] [--no-post]
// Runs the committed dist/ by hand, with your own inputs, under the runner emulation (fakes/runner.ts:
// the environment, the file commands and the state GitHub's runner gives a step) against the
// Venice-compatible test server on loopback, and prints the log as GitHub shows it (masked), the
// outputs and the keys Venice holds. admin-key and api-url are the test server's unless given. Runs on
// the system Node through scripts/node24.mjs (the action's Node 24 runs the steps).
import { parseArgs } from 'node:util';
import { JobLog } from '../fakes/job-log.ts';
import { runStep } from '../fakes/runner.ts';
import { VeniceServer } from '../fakes/venice-server.ts';

const USAGE = 'usage: npm run try -- [--input NAME=VALUE …] [--no-post]   e.g. npm run try -- --input expires-in=2h --input usd-limit=1';

function readInputs(): { inputs: Record<string, string>; post: boolean } {
  try {
    const { values } = parseArgs({ options: { input: { type: 'string', multiple: true, default: [] }, 'no-post': { type: 'boolean' } } });
    const inputs: Record<string, string> = {};
    for (const pair of values.input) {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--input ${pair}: write NAME=VALUE`);
      inputs[pair.slice(0, at)] = pair.slice(at + 1);
    }
    return { inputs, post: values['no-post'] !== true };
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const { inputs: given, post } = readInputs();
const server = await new VeniceServer().start();
const inputs = { 'admin-key': server.adminKey, 'api-url': server.apiUrl, ...given };
const log = new JobLog((secret) => (secret === server.adminKey ? 'the admin key' : 'a secret (the new key)'));
const keys = (when: string): void => {
  console.log(`\nVenice's keys ${when}: ${server.liveKeys().length}`);
  for (const key of server.liveKeys())
    console.log(`  - ${key.id}  ${JSON.stringify(log.masked(key.description))}  expires ${key.expiresAt}`);
};
try {
  console.log(`Venice-compatible test server on ${server.apiUrl}; inputs: ${Object.keys(inputs).join(', ')}`);
  console.log('\n--- main step, as the job log shows it ---');
  const main = await runStep('main', { inputs });
  log.show(main);
  console.log(`exit code ${main.exitCode}`);
  console.log('\nOutputs:');
  for (const [name, value] of Object.entries(main.outputs)) {
    console.log(`  ${name} = ${name === 'api-key' ? `<${value.length} characters, masked>` : log.masked(value)}`);
  }
  keys('after main');
  let exitCode = main.exitCode;
  if (post) {
    console.log('\n--- post step ---');
    const ran = await runStep('post', { inputs, state: main.state });
    log.show(ran);
    console.log(`exit code ${ran.exitCode}`);
    keys('after post');
    exitCode ||= ran.exitCode;
  }
  process.exitCode = exitCode ?? 1;
} finally {
  await server.stop();
}
