// npm run demo: the whole life of a key with no Venice account. Starts the Venice-compatible test
// server on loopback, runs the committed dist/ main then post as the runner would, and prints what a
// workflow log would show (masked, as GitHub masks it), the outputs, and the server's keys before and after.
// Then a run key shared by jobs, and a job key through the key broker (broker/dist/server.js as its own
// process, a loopback OIDC issuer standing in for GitHub's) with no admin key in the workflow, and a
// runner that dies before its post step, whose key the broker deletes when GitHub's webhook says the run is over.
import { AUDIENCE, spawnBroker } from '../fakes/broker-process.ts';
import { deliver, workflowRunCompleted } from '../fakes/github-webhooks.ts';
import { JobLog } from '../fakes/job-log.ts';
import { jobClaims, OidcIssuer } from '../fakes/oidc-issuer.ts';
import { runStep, type StepResult, TEST_GITHUB_TOKEN } from '../fakes/runner.ts';
import { VeniceServer } from '../fakes/venice-server.ts';

const server = await new VeniceServer().start();
const WEBHOOK_SECRET = 'the-demo-webhook-secret';
const inputs = {
  'admin-key': server.adminKey,
  'api-url': server.apiUrl,
  'expires-in': '2h',
  'usd-limit': '5',
  description: 'demo run',
  'export-env': 'VENICE_API_KEY',
};

/** What the job log shows: workflow commands interpreted, masked values replaced by ***. */
const log = new JobLog((secret) =>
  secret === server.adminKey
    ? 'the admin key'
    : secret === TEST_GITHUB_TOKEN
      ? 'the GitHub token'
      : /^[\w-]+\.[\w-]+\.[\w-]+$/.test(secret)
        ? "the job's OIDC token"
        : secret.startsWith('runner-')
          ? "the runner's ID-token request token"
          : 'the new key',
);
const showLog = (step: StepResult): void => log.show(step);

function showKeys(title: string): void {
  const keys = server.liveKeys();
  console.log(`\n${title}: ${keys.length} live key(s)`);
  for (const key of keys) console.log(`  - ${key.id}  "${key.description}"  expires ${key.expiresAt}`);
}

/** A job with `id-token: write` and broker-url instead of admin-key: main, post, and the broker's audit lines. */
async function brokerLife(): Promise<boolean> {
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const broker = await spawnBroker({
    venice: server,
    issuer,
    githubWebhook: { 'secret-env': 'GITHUB_WEBHOOK_SECRET' },
    webhookSecret: WEBHOOK_SECRET,
  });
  try {
    console.log(`broker on ${broker.url} (its policy: octo-org's main branch, up to 5 USD, clamped); OIDC issuer on ${issuer.url}`);
    const brokerInputs = { 'broker-url': broker.url, 'broker-audience': AUDIENCE, 'api-url': server.apiUrl, 'usd-limit': '50' };
    const env = () => issuer.jobEnv(jobClaims('octo-org/shop', '18234567890'));
    const job = await runStep('main', { inputs: brokerInputs, env: env() });
    showLog(job);
    const jobPost = await runStep('post', { inputs: brokerInputs, env: env(), state: job.state });
    showLog(jobPost);

    console.log('\n=== A runner that dies: its post step never runs, and the webhook cleans up ===');
    const dying = await runStep('main', {
      inputs: brokerInputs,
      env: { ...issuer.jobEnv(jobClaims('octo-org/shop', '18234567999')), GITHUB_RUN_ID: '18234567999' },
    });
    console.log(`job of run 18234567999: key ${dying.outputs['key-id']} minted; then the runner is killed (no post step).`);
    showKeys('Before GitHub says the run is over');
    const delivery = await deliver(broker.url, 'workflow_run', workflowRunCompleted('octo-org/shop', '18234567999'), {
      signWith: WEBHOOK_SECRET,
    });
    console.log(
      `GitHub's workflow_run "completed" delivery ${delivery.delivery} → HTTP ${delivery.status} (the broker deletes in the background)`,
    );
    for (let i = 0; i < 100 && server.liveKeys().some((key) => key.id === dying.outputs['key-id']); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    showKeys('After the delivery');
    await broker.stop();
    console.log("\nThe broker's audit log (one JSON line per decision, never a token or a key):");
    for (const line of broker.audit) console.log(`  ${JSON.stringify(line)}`);
    return job.exitCode === 0 && jobPost.exitCode === 0 && dying.exitCode === 0 && server.liveKeys().length === 0;
  } finally {
    await broker.stop();
    await issuer.stop();
  }
}

try {
  console.log(`Venice-compatible server on ${server.apiUrl}`);
  showKeys('Before the job');

  console.log('\n--- main step (log as GitHub shows it) ---');
  const main = await runStep('main', { inputs });
  showLog(main);
  console.log(`exit code ${main.exitCode}`);
  console.log('\nOutputs (api-key is masked in logs; shown here by its length only):');
  for (const [name, value] of Object.entries(main.outputs)) {
    console.log(`  ${name} = ${name === 'api-key' ? `<${value.length} characters, masked>` : value}`);
  }
  console.log('\nJob summary:');
  console.log(main.summary.replace(/^/gm, '  '));
  showKeys('After main');

  console.log('\n--- post step ---');
  const post = await runStep('post', { inputs, state: main.state });
  showLog(post);
  console.log(`exit code ${post.exitCode}`);
  showKeys('After post');
  console.log(`\nRequests the action sent: ${server.requests.map((r) => `${r.method} ${r.path} → ${r.status}`).join(', ')}`);

  // scope: run, as the README's run-key recipe wires it: one key for the whole run.
  console.log('\n=== One key for a whole run: a mint job, two jobs that use it, a last job that revokes it ===');
  const creates = server.count('create');
  const mint = await runStep('main', { inputs: { ...inputs, scope: 'run' }, env: { GITHUB_JOB: 'mint' } });
  const handle = mint.outputs['key-handle'] ?? '';
  console.log(
    `mint job: key ${mint.outputs['key-id']}, key-handle output ${handle.slice(0, 32)}… (${handle.length} characters, no secret in clear)`,
  );
  for (const job of ['evals-chat', 'evals-images']) {
    const use = await runStep('main', { inputs: { ...inputs, mode: 'use', 'key-handle': handle }, env: { GITHUB_JOB: job } });
    console.log(`${job}: mode use → key ${use.outputs['key-id']} (exit code ${use.exitCode})`);
  }
  const revoke = await runStep('main', { inputs: { ...inputs, mode: 'revoke', 'key-handle': handle }, env: { GITHUB_JOB: 'revoke' } });
  console.log(
    `revoke job: deleted ${revoke.outputs['deleted-ids']}, spent ${revoke.outputs['spent-usd']} USD (exit code ${revoke.exitCode})`,
  );
  console.log(`Creates for the whole run: ${server.count('create') - creates}. Live keys now: ${server.liveKeys().length}.`);

  console.log('\n=== No admin key in the workflow: a job key through the key broker ===');
  const viaBroker = await brokerLife();
  process.exitCode =
    main.exitCode === 0 && post.exitCode === 0 && revoke.exitCode === 0 && viaBroker && server.liveKeys().length === 0 ? 0 : 1;
} finally {
  await server.stop();
}
