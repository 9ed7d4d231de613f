// npm run bench: measures the committed dist/ (builds nothing) under Node 24 and prints three tables;
// the same figures go to bench/results.json (git-ignored). It reports; it is not a test, and always
// exits 0. Wall times are noisy, so every figure is a median compared with a baseline measured in the
// same run, interleaved.
//
// 1. Start-up on loopback: main and post against bare `node -e 0` (target ≤ 2.5×).
// 2. Latency over TLS behind a delay relay, at RTT 0 and 100 ms: main, post and revoke against the
//    ideal (bare start + the round trips the step needs) and against the floor, a minimal node:https
//    keep-alive client spawned the same way sending the same requests (target ≤ 1.1× the floor), with
//    the TCP connections and TLS handshakes each step opened (target: one of each).
// 3. A 30-job matrix at Venice's real creation limit (20 per minute), with and without Retry-After:
//    wall time against the one-window floor (target ≤ 1.25×).
// 4. The same matrix through one key broker (broker/dist/server.js as its own process): the broker's
//    queue spaces the creates, so Venice should never have to answer 429.
// 5. A stranger's flood against the broker process (a repository no rule admits, 30,000 requests at
//    concurrency 50): refusals per second, the broker's CPU per refusal, Venice requests caused per
//    1,000 (target 0), and its RSS after 10k, 20k and 30k (target: no growth after the first 10k).
// 6. Three broker replicas sharing a real Redis (redis-server from the PATH) behind a loopback load
//    balancer: 60 jobs (50 of one repository, 10 of another a moment later) at Venice's real limit
//    without Retry-After: wall time against the 2-minute floor (target ≤ 1.15×), 429s (target 0), when
//    the smaller repository's last key was created; and one job at a time through a replica against the
//    direct path, the queue idle (target ≤ 1.2×).
// 7. The warm pool (bench-pool.ts): 60 mints from a full pool of 60 across three replicas, a burst
//    larger than the pool, one quiet mint through the pool against one create, and the refill rate.
// `npm run bench -- --broker-only` runs the fourth alone (about a minute); `--refusals-only` the fifth;
// `--replicas-only` the sixth (about three minutes); `--pool-only` the seventh (about eight minutes).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIENCE, spawnBroker } from '../fakes/broker-process.ts';
import { DelayRelay } from '../fakes/delay-relay.ts';
import { LoadBalancer } from '../fakes/load-balancer.ts';
import { jobClaims, OidcIssuer } from '../fakes/oidc-issuer.ts';
import { RedisServer, redisServerVersion } from '../fakes/redis-server.ts';
import { NODE24, REPO, runStep, type StepResult } from '../fakes/runner.ts';
import { makeCertificate } from '../fakes/test-certificate.ts';
import { VeniceServer } from '../fakes/venice-server.ts';
import { benchPool } from './bench-pool.ts';
import { median, ms, printTable, spread, verdict } from './bench-report.ts';
import { BUNDLE_BUDGET_BYTES, bundleFacts } from './bundle-facts.ts';

const ROUNDS = 15;
const LATENCY_ROUNDS = 7;
const WARMUP = 3;
const TARGETS = { startupRatio: 2.5, floorRatio: 1.1, bundleBytes: BUNDLE_BUDGET_BYTES, matrixRatio: 1.25 };

function timed(args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((done, fail) => {
    const startedAt = performance.now();
    const child = spawn(NODE24, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => (code === 0 ? done(performance.now() - startedAt) : fail(new Error(stderr))));
  });
}

// Peak RSS: a preload prints the process's maxRSS (KiB) to stderr on exit; separate, untimed runs.
const RSS_PROBE = `data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss='+process.resourceUsage().maxRSS+'\\n'))`;
const peakRssMiB = (step: StepResult): number => Number(/maxrss=(\d+)/.exec(step.stderr)?.[1] ?? 0) / 1024;

async function startup() {
  const server = await new VeniceServer({ createLimit: { count: 1_000_000, windowMs: 60_000 } }).start();
  const inputs = { 'admin-key': server.adminKey, 'api-url': server.apiUrl };
  const bare: number[] = [];
  const main: number[] = [];
  const post: number[] = [];
  try {
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const b = await timed(['-e', '0']);
      const m = await runStep('main', { inputs });
      const p = await runStep('post', { inputs, state: m.state });
      if (m.exitCode !== 0 || p.exitCode !== 0) throw new Error(`a benchmark run failed:\n${m.stdout}\n${p.stdout}`);
      if (round < WARMUP) continue;
      bare.push(b);
      main.push(m.durationMs);
      post.push(p.durationMs);
    }
    const probedMain = await runStep('main', { inputs, nodeArgs: ['--import', RSS_PROBE] });
    const probedPost = await runStep('post', { inputs, state: probedMain.state, nodeArgs: ['--import', RSS_PROBE] });
    return {
      bare: spread(bare),
      main: spread(main),
      post: spread(post),
      mainRatio: median(main) / median(bare),
      postRatio: median(post) / median(bare),
      peakRssMiB: { main: peakRssMiB(probedMain), post: peakRssMiB(probedPost) },
    };
  } finally {
    await server.stop();
  }
}

interface LatencyRow {
  step: string;
  roundTrips: number;
  action: ReturnType<typeof spread>;
  floor: ReturnType<typeof spread>;
  idealMs: number;
  connections: number;
  handshakes: number;
}

async function latency(rttMs: number, bareMs: number, certificate: ReturnType<typeof makeCertificate>): Promise<LatencyRow[]> {
  const server = await new VeniceServer({
    createLimit: { count: 1_000_000, windowMs: 60_000 },
    tls: { key: certificate.key, cert: certificate.cert, hostname: 'localhost' },
  }).start();
  const relay = new DelayRelay({ host: '127.0.0.1', port: Number(new URL(server.url).port) }, rttMs);
  const port = await relay.start();
  const apiUrl = `https://localhost:${port}/api/v1`;
  const env = { NODE_EXTRA_CA_CERTS: certificate.certPath };
  const inputs = { 'admin-key': server.adminKey, 'api-url': apiUrl };
  const floorEnv = (requests: unknown[]) => ({ ...env, FOR_BENCH: '1', FLOOR_REQUESTS: JSON.stringify(requests) });
  const floorScript = join(REPO, 'scripts', 'bench-floor-client.mjs');
  const admin = server.adminKey;
  const body = JSON.stringify({ apiKeyType: 'INFERENCE', description: 'floor', expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  const samples = { main: [] as number[], post: [] as number[], revoke: [] as number[] };
  const floors = { main: [] as number[], post: [] as number[], revoke: [] as number[] };
  const counts = { main: [0, 0], post: [0, 0], revoke: [0, 0] };
  const counted = async <T>(step: 'main' | 'post' | 'revoke', run: () => Promise<T>): Promise<T> => {
    const [c, h] = [server.connections, server.handshakes];
    const result = await run();
    counts[step] = [server.connections - c, server.handshakes - h];
    return result;
  };
  try {
    for (let round = 0; round < 1 + LATENCY_ROUNDS; round++) {
      const main = await counted('main', () => runStep('main', { inputs, env }));
      const post = await counted('post', () => runStep('post', { inputs, env, state: main.state }));
      const prKey = server.addKey({ description: `preview vek:octo-org/shop#7 pr:web r1.1 abcdef` });
      const revoke = await counted('revoke', () => runStep('main', { inputs: { ...inputs, mode: 'revoke', 'pr-number': '7' }, env }));
      if ([main, post, revoke].some((step) => step.exitCode !== 0) || server.keys.has(prKey.id)) throw new Error('a latency run failed');
      const floorKey = server.addKey({ description: 'floor' });
      const floorMain = await timed(
        [floorScript],
        floorEnv([
          { method: 'POST', url: `${apiUrl}/api_keys`, key: admin, body },
          { method: 'GET', url: `${apiUrl}/api_keys/rate_limits`, key: admin },
        ]),
      );
      const floorPost = await timed(
        [floorScript],
        floorEnv([
          { method: 'GET', url: `${apiUrl}/api_keys/${floorKey.id}`, key: admin },
          { method: 'DELETE', url: `${apiUrl}/api_keys?id=${floorKey.id}`, key: admin },
        ]),
      );
      const revokeKey = server.addKey({ description: 'floor' });
      const floorRevoke = await timed(
        [floorScript],
        floorEnv([
          { method: 'GET', url: `${apiUrl}/api_keys`, key: admin },
          { method: 'GET', url: `${apiUrl}/api_keys/${revokeKey.id}`, key: admin },
          { method: 'DELETE', url: `${apiUrl}/api_keys?id=${revokeKey.id}`, key: admin },
        ]),
      );
      for (const key of server.liveKeys()) server.keys.delete(key.id);
      if (round === 0) continue; // warm-up
      samples.main.push(main.durationMs);
      samples.post.push(post.durationMs);
      samples.revoke.push(revoke.durationMs);
      floors.main.push(floorMain);
      floors.post.push(floorPost);
      floors.revoke.push(floorRevoke);
    }
  } finally {
    await relay.stop();
    await server.stop();
  }
  // TCP handshake + TLS 1.3 handshake + one round trip per request.
  const trips = { main: 4, post: 4, revoke: 5 };
  return (['main', 'post', 'revoke'] as const).map((step) => ({
    step,
    roundTrips: trips[step],
    action: spread(samples[step]),
    floor: spread(floors[step]),
    idealMs: bareMs + trips[step] * rttMs,
    connections: counts[step][0]!,
    handshakes: counts[step][1]!,
  }));
}

const MATRIX_JOBS = 30;
const MATRIX_WINDOW_MS = 60_000;

/** 30 jobs' main steps at once (the committed dist/, real processes), then their posts: the mains' wall time and what Venice saw. */
async function runMatrix(venice: VeniceServer, inputs: Record<string, string>, env: () => Record<string, string> = () => ({})) {
  const startedAt = performance.now();
  const mains = await Promise.all(
    Array.from({ length: MATRIX_JOBS }, (_, i) => runStep('main', { inputs, env: { GITHUB_JOB: `leg-${i}`, ...env() }, limitMs: 300_000 })),
  );
  const wallMs = performance.now() - startedAt;
  await Promise.all(mains.map((main) => runStep('post', { inputs, env: env(), state: main.state })));
  return {
    jobs: MATRIX_JOBS,
    wallMs,
    floorMs: MATRIX_WINDOW_MS,
    ratio: wallMs / MATRIX_WINDOW_MS,
    failures: mains.filter((main) => main.exitCode !== 0).length,
    creates: venice.count('create'),
    failedRequests: venice.failedRequests(),
    keysLeft: venice.liveKeys().length,
  };
}

async function matrix(retryAfterHeader: boolean) {
  const server = await new VeniceServer({ createLimit: { count: 20, windowMs: MATRIX_WINDOW_MS }, retryAfterHeader }).start();
  try {
    return { retryAfterHeader, ...(await runMatrix(server, { 'admin-key': server.adminKey, 'api-url': server.apiUrl })) };
  } finally {
    await server.stop();
  }
}

/** 30 jobs (the committed dist/, real processes) minting through one broker process at Venice's real limit. */
async function brokerMatrix() {
  const venice = await new VeniceServer({ createLimit: { count: 20, windowMs: MATRIX_WINDOW_MS } }).start();
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const broker = await spawnBroker({ venice, issuer });
  const inputs = { 'broker-url': broker.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl };
  try {
    // Each step gets its own ID-token variables, for the repository and run runner.ts gives every step.
    const measured = await runMatrix(venice, inputs, () => issuer.jobEnv(jobClaims('octo-org/shop', '18234567890')));
    return { ...measured, auditLines: broker.audit.length };
  } finally {
    await broker.stop();
    await issuer.stop();
    await venice.stop();
  }
}

/** A matrix run's cells: wall time, ratio to the floor, failed jobs, creates, 4xx, keys left. */
function matrixCells(m: Awaited<ReturnType<typeof runMatrix>>): string[] {
  return [
    `${(m.wallMs / 1000).toFixed(1)} s`,
    `${m.ratio.toFixed(2)}× (≤ ${TARGETS.matrixRatio}×: ${verdict(m.ratio <= TARGETS.matrixRatio)})`,
    String(m.failures),
    String(m.creates),
    String(m.failedRequests),
    String(m.keysLeft),
  ];
}

function printBrokerMatrix(m: Awaited<ReturnType<typeof brokerMatrix>>): void {
  printTable('30 jobs through one key broker at 20 creations per minute (real processes, real window)', [
    ['wall time', 'against the 60 s floor', 'failed jobs', 'creates sent', '4xx from Venice', 'keys left', 'audit lines'],
    [...matrixCells(m), String(m.auditLines)],
  ]);
}

/** The broker process's CPU time (user + system, ms) and resident set (MiB), from /proc (Linux). */
function processFacts(pid: number): { cpuMs: number; rssMiB: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the line)
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuMs: ticks * 10, rssMiB: rssKiB / 1024 };
  } catch {
    return { cpuMs: Number.NaN, rssMiB: Number.NaN };
  }
}

const FLOOD_STEPS = [10_000, 20_000, 30_000];
const FLOOD_CONCURRENCY = 50;

/** A stranger's deletes, unwraps and mints against the broker process: what each refusal costs. */
async function brokerRefusals() {
  const venice = await new VeniceServer().start();
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const broker = await spawnBroker({ venice, issuer });
  // The broker's start-up check of its admin key (one listing) is not the flood's doing.
  const atStart = venice.requests.length;
  const pid = broker.child.pid as number;
  try {
    const token = await issuer.sign(jobClaims('evil-corp/probe', '700'), { expiresIn: 3_600 });
    const handle = `vek1.700.${'a'.repeat(12)}.${'A'.repeat(80)}`;
    const send = (i: number): Promise<number> => {
      const kind = i % 3;
      const init: RequestInit =
        kind === 0
          ? { method: 'DELETE' }
          : { method: 'POST', body: JSON.stringify(kind === 1 ? { handle } : {}), headers: { 'content-type': 'application/json' } };
      const path = kind === 0 ? `/v1/keys/${crypto.randomUUID()}` : kind === 1 ? '/v1/keys/unwrap' : '/v1/keys';
      return fetch(broker.url + path, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    };
    const before = processFacts(pid);
    const rows: { sent: number; perSecond: number; cpuMsPerRefusal: number; rssMiB: number }[] = [];
    let sent = 0;
    for (const target of FLOOD_STEPS) {
      const started = performance.now();
      const cpuBefore = processFacts(pid).cpuMs;
      const batch = target - sent;
      let next = 0;
      await Promise.all(
        Array.from({ length: FLOOD_CONCURRENCY }, async () => {
          while (next < batch) {
            next++;
            await send(sent + next);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      sent = target;
      const facts = processFacts(pid);
      rows.push({ sent, perSecond: batch / seconds, cpuMsPerRefusal: (facts.cpuMs - cpuBefore) / batch, rssMiB: facts.rssMiB });
    }
    await broker.stop();
    return {
      rows,
      startRssMiB: before.rssMiB,
      veniceRequestsPer1000: ((venice.requests.length - atStart) / sent) * 1000,
      auditLines: broker.audit.length,
    };
  } finally {
    await broker.stop();
    await issuer.stop();
    await venice.stop();
  }
}

function printRefusals(r: Awaited<ReturnType<typeof brokerRefusals>>): void {
  const first = r.rows[0]?.rssMiB ?? 0;
  const last = r.rows.at(-1)?.rssMiB ?? 0;
  printTable(
    `A stranger's flood against one broker process (concurrency ${FLOOD_CONCURRENCY}; start RSS ${r.startRssMiB.toFixed(1)} MiB)`,
    [
      ['refusals so far', 'refusals per second', 'broker CPU per refusal', 'broker RSS'],
      ...r.rows.map((row) => [
        String(row.sent),
        row.perSecond.toFixed(0),
        `${(row.cpuMsPerRefusal * 1000).toFixed(0)} µs`,
        `${row.rssMiB.toFixed(1)} MiB`,
      ]),
      [
        'Venice requests per 1,000',
        `${r.veniceRequestsPer1000.toFixed(1)} (target 0: ${verdict(r.veniceRequestsPer1000 === 0)})`,
        `RSS growth after the first 10k: ${(last - first).toFixed(1)} MiB (target: none: ${verdict(last - first <= 5)})`,
        `audit lines: ${r.auditLines}`,
      ],
    ],
  );
}

/** 60 jobs through three replicas sharing Redis at Venice's real limit; then single jobs, broker against direct. */
async function replicas() {
  const redis = await new RedisServer().start();
  const venice = await new VeniceServer({ createLimit: { count: 20, windowMs: MATRIX_WINDOW_MS }, retryAfterHeader: false }).start();
  const issuer = await new OidcIssuer(AUDIENCE).start();
  const options = { venice, issuer, store: { 'redis-url-env': 'BROKER_REDIS_URL' }, redisUrl: redis.url, defaults: REPLICA_DEFAULTS };
  const brokers = await Promise.all([spawnBroker(options), spawnBroker(options), spawnBroker(options)]);
  const balancer = await new LoadBalancer(brokers.map((broker) => broker.url)).start();
  const inputs = { 'broker-url': balancer.url, 'broker-audience': AUDIENCE, 'api-url': venice.apiUrl, verify: 'false', timeout: '5m' };
  const job = (repository: string, runId: string) =>
    runStep('main', {
      inputs,
      env: { ...issuer.jobEnv(jobClaims(repository, runId)), GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: runId },
      limitMs: 320_000,
    });
  try {
    const startedAt = performance.now();
    const shop = Array.from({ length: 50 }, (_, i) => job('octo-org/shop', String(7000 + i)));
    await new Promise((done) => setTimeout(done, 500));
    const webArrived = Date.now();
    const web = Array.from({ length: 10 }, (_, i) => job('octo-org/web', String(8000 + i)));
    const steps = await Promise.all([...shop, ...web]);
    const wallMs = performance.now() - startedAt;
    const created = (repository: string) =>
      venice.minted.filter((key) => key.description.startsWith(`vek:${repository} `)).map((key) => Date.parse(key.createdAt));
    const firstCreate = Math.min(...created('octo-org/shop'));
    const burst = {
      wallMs,
      ratio: wallMs / (2 * MATRIX_WINDOW_MS),
      failures: steps.filter((step) => step.exitCode !== 0).length,
      tooMany: venice.requests.filter((request) => request.status === 429).length,
      webLastAfterArrivalS: (Math.max(...created('octo-org/web')) - webArrived) / 1000,
      webWindow: Math.floor((Math.max(...created('octo-org/web')) - firstCreate) / MATRIX_WINDOW_MS) + 1,
    };
    // The queue idle: wait for Venice's window to be empty, then one job at a time, interleaved.
    await new Promise((done) => setTimeout(done, MATRIX_WINDOW_MS + 2_000));
    const through: number[] = [];
    const direct: number[] = [];
    for (let round = 0; round < 7; round++) {
      through.push((await job('octo-org/shop', String(9000 + round))).durationMs);
      direct.push(
        (await runStep('main', { inputs: { 'admin-key': venice.adminKey, 'api-url': venice.apiUrl, verify: 'false' } })).durationMs,
      );
    }
    return { burst, through: spread(through), direct: spread(direct), idleRatio: median(through) / median(direct) };
  } finally {
    await balancer.stop();
    for (const broker of brokers) await broker.stop();
    await issuer.stop();
    await venice.stop();
    await redis.dispose();
  }
}
const REPLICA_DEFAULTS = {
  ceilings: { usd: 5, diem: 5, 'max-expiry': '2h', 'live-keys': 100 },
  'rate-limits': { mint: 100 },
};

function printReplicas(r: Awaited<ReturnType<typeof replicas>>): void {
  printTable('60 jobs through 3 broker replicas sharing Redis, at 20 creations per minute without Retry-After', [
    ['wall time', 'against the 120 s floor', 'failed jobs', "Venice's 429s", "the 10 web jobs' last key"],
    [
      `${(r.burst.wallMs / 1000).toFixed(1)} s`,
      `${r.burst.ratio.toFixed(2)}× (≤ 1.15×: ${verdict(r.burst.ratio <= 1.15)})`,
      String(r.burst.failures),
      `${r.burst.tooMany} (target 0: ${verdict(r.burst.tooMany === 0)})`,
      `${r.burst.webLastAfterArrivalS.toFixed(1)} s after they arrived, in window ${r.burst.webWindow} (target ≤ 2: ${verdict(r.burst.webWindow <= 2)})`,
    ],
  ]);
  printTable('One job at a time, the queue idle (median of 7, interleaved)', [
    ['through a replica', 'direct (admin key)', 'ratio'],
    [ms(r.through), ms(r.direct), `${r.idleRatio.toFixed(2)}× (≤ 1.2×: ${verdict(r.idleRatio <= 1.2)})`],
  ]);
}

const flags = parseArgs({
  options: {
    'broker-only': { type: 'boolean' },
    'refusals-only': { type: 'boolean' },
    'replicas-only': { type: 'boolean' },
    'pool-only': { type: 'boolean' },
  },
}).values;
if (flags['pool-only']) {
  if (!redisServerVersion()) {
    console.log('redis-server is not installed: the pool benchmark needs it (Debian/Ubuntu: sudo apt-get install -y redis-server).');
  } else {
    console.log(`Machine: ${machineLoad()}.`);
    await benchPool();
  }
  process.exit(0);
}
if (flags['replicas-only']) {
  if (!redisServerVersion()) {
    console.log('redis-server is not installed: the replicas benchmark needs it (Debian/Ubuntu: sudo apt-get install -y redis-server).');
  } else printReplicas(await replicas());
  process.exit(0);
}
if (flags['broker-only']) {
  printBrokerMatrix(await brokerMatrix());
  process.exit(0);
}
if (flags['refusals-only']) {
  printRefusals(await brokerRefusals());
  process.exit(0);
}

/** Ratios of wall times mean something only on an idle machine: say how busy this one is. */
function machineLoad(): string {
  const [one, five] = loadavg();
  const cores = availableParallelism();
  const busy = (one ?? 0) > cores / 2;
  return `load average ${one?.toFixed(2)} (1 min), ${five?.toFixed(2)} (5 min) on ${cores} cores${busy ? ': BUSY, the ratios below are not to be trusted' : ''}`;
}

console.log(`Machine: ${machineLoad()}. Timings and their ratios are meaningful only on an otherwise idle machine.`);

try {
  const facts = bundleFacts();
  printTable('Bundle', [
    ['file', 'size', 'loaded'],
    ...Object.entries(facts.bytes).map(([name, bytes]) => [
      `dist/${name}`,
      `${(bytes / 1000).toFixed(1)} kB`,
      facts.lazyChunks.includes(name) ? 'on demand only (GitHub calls, proxies, the broker path)' : 'by main and post',
    ]),
    [
      'main + post',
      `${(facts.mintPathBytes / 1000).toFixed(1)} kB`,
      `≤ ${TARGETS.bundleBytes / 1000} kB: ${verdict(facts.mintPathBytes <= TARGETS.bundleBytes)}; undici copies: ${facts.undiciCopies}; Octokit on the mint path: ${facts.octokitOnMintPath ? 'yes' : 'no'}`,
    ],
  ]);

  const start = await startup();
  printTable(`Start-up on loopback (median of ${ROUNDS}, interleaved)`, [
    ['step', 'wall time', 'against bare node', 'target'],
    ['bare node -e 0', ms(start.bare), '1.00×', ''],
    [
      'main (create + verify)',
      ms(start.main),
      `${start.mainRatio.toFixed(2)}×`,
      `≤ ${TARGETS.startupRatio}×: ${verdict(start.mainRatio <= TARGETS.startupRatio)}`,
    ],
    [
      'post (get + delete)',
      ms(start.post),
      `${start.postRatio.toFixed(2)}×`,
      `≤ ${TARGETS.startupRatio}×: ${verdict(start.postRatio <= TARGETS.startupRatio)}`,
    ],
    ['peak RSS main / post', `${start.peakRssMiB.main.toFixed(1)} / ${start.peakRssMiB.post.toFixed(1)} MiB`, '', ''],
  ]);

  const certificate = makeCertificate('localhost');
  const latencies: Record<string, LatencyRow[]> = {};
  for (const rtt of [0, 100]) {
    const rows = await latency(rtt, start.bare.median, certificate);
    latencies[`rtt${rtt}`] = rows;
    printTable(`Latency over TLS 1.3, RTT ${rtt} ms (median of ${LATENCY_ROUNDS})`, [
      ['step', 'action', 'floor client', 'action / floor', 'ideal', 'connections / handshakes'],
      ...rows.map((row) => [
        `${row.step} (${row.roundTrips} RTT)`,
        ms(row.action),
        ms(row.floor),
        // The target is for a real network (RTT 100 ms); at RTT 0 the ratio only shows start-up.
        rtt === 0
          ? `${(row.action.median / row.floor.median).toFixed(2)}× (start-up only)`
          : `${(row.action.median / row.floor.median).toFixed(2)}× (≤ ${TARGETS.floorRatio}×: ${verdict(row.action.median / row.floor.median <= TARGETS.floorRatio)})`,
        `${row.idealMs.toFixed(0)} ms (${(row.action.median / row.idealMs).toFixed(2)}×)`,
        `${row.connections} / ${row.handshakes} (${verdict(row.connections === 1 && row.handshakes === 1)})`,
      ]),
    ]);
  }

  const matrices = [await matrix(true), await matrix(false)];
  printTable('30 jobs with scope: job at 20 creations per minute (real processes, real window)', [
    ['Retry-After', 'wall time', 'against the 60 s floor', 'failed jobs', 'creates sent', '4xx other than 429', 'keys left'],
    ...matrices.map((m) => [m.retryAfterHeader ? 'sent' : 'left out', ...matrixCells(m)]),
  ]);

  const viaBroker = await brokerMatrix();
  printBrokerMatrix(viaBroker);

  const refusals = await brokerRefusals();
  printRefusals(refusals);

  const shared = redisServerVersion() ? await replicas() : undefined;
  if (shared) printReplicas(shared);
  else console.log('\n(replicas through Redis: skipped, redis-server is not installed)');

  const results = {
    node: readFileSync(join(REPO, '.node-version'), 'utf8').trim(),
    bundle: facts,
    startup: start,
    latency: latencies,
    matrix: matrices,
    brokerMatrix: viaBroker,
    brokerRefusals: refusals,
    replicas: shared,
    targets: TARGETS,
    machine: machineLoad(),
  };
  mkdirSync(join(REPO, 'bench'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nwritten to bench/results.json');
} catch (error) {
  console.error(`benchmark could not finish: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
}
process.exit(0);
