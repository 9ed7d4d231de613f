// Runs the Venice-compatible test server on its own, for the end-to-end job on the real runner (and for
// trying the action by hand). Usage:
//   node scripts/serve-venice.ts [--port 8787] [--github-env "$GITHUB_ENV"]
// With --github-env it appends VENICE_TEST_API_URL and VENICE_TEST_ADMIN_KEY for later steps (the key
// is masked first). It serves until it is stopped.
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { VeniceServer } from '../fakes/venice-server.ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8787' }, 'github-env': { type: 'string' } } });
const server = await new VeniceServer({ port: Number(values.port) }).start();
console.log(`::add-mask::${server.adminKey}`);
if (values['github-env']) {
  appendFileSync(values['github-env'], `VENICE_TEST_API_URL=${server.apiUrl}\nVENICE_TEST_ADMIN_KEY=${server.adminKey}\n`);
}
console.log(`Venice-compatible test server listening on ${server.apiUrl}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void server.stop().then(() => process.exit(0)));
