// npm run bench: measures the committed dist/ (builds nothing) under Node 24 against the loopback
// Venice-compatible server, and prints a table; the same figures go to bench/results.json. It reports;
// it is not a test, and always exits 0. Wall times are noisy, so each is a ratio to bare `node -e 0`
// measured interleaved in the same run.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_BUDGET_BYTES, bundleFacts } from '../test/support/bundle-facts.ts';
import { NODE24, REPO, runStep, type StepResult } from '../test/support/runner.ts';
import { VeniceServer } from '../test/support/venice-server.ts';

const ROUNDS = 15;
const WARMUP = 3;
const STORM_JOBS = 30;
const STORM_LIMIT = { count: 10, windowMs: 2_000 };
const TARGETS = { startupRatio: 2.8, bundleBytes: BUNDLE_BUDGET_BYTES, stormRatio: 1.5 };

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const summary = (values: number[]) => ({ median: median(values), min: Math.min(...values), max: Math.max(...values) });

function bareNode(): Promise<number> {
  return new Promise((done) => {
    const startedAt = performance.now();
    spawn(NODE24, ['-e', '0'], { stdio: 'ignore' }).on('close', () => done(performance.now() - startedAt));
  });
}

// Peak RSS: a preload prints the process's maxRSS (KiB) to stderr on exit; separate, untimed runs.
const RSS_PROBE = `data:text/javascript,process.on('exit',()=>process.stderr.write('maxrss='+process.resourceUsage().maxRSS+'\\n'))`;
const peakRssMiB = (step: StepResult): number => Number(/maxrss=(\d+)/.exec(step.stderr)?.[1] ?? 0) / 1024;

const server = await new VeniceServer({ createLimit: { count: 1_000_000, windowMs: 60_000 } }).start();
const inputs = { 'admin-key': server.adminKey, 'api-url': server.apiUrl };
const bare: number[] = [];
const main: number[] = [];
const post: number[] = [];
try {
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    const b = await bareNode();
    const m = await runStep('main', { inputs });
    const p = await runStep('post', { inputs, state: m.state });
    if (m.exitCode !== 0 || p.exitCode !== 0) throw new Error(`a benchmark run failed:\n${m.stdout}\n${p.stdout}`);
    if (round >= WARMUP) {
      bare.push(b);
      main.push(m.durationMs);
      post.push(p.durationMs);
    }
  }

  server.requests.length = 0;
  const probedMain = await runStep('main', { inputs, nodeArgs: ['--import', RSS_PROBE] });
  const mainRequests = server.requests.map((r) => r.call);
  server.requests.length = 0;
  const probedPost = await runStep('post', { inputs, state: probedMain.state, nodeArgs: ['--import', RSS_PROBE] });
  const postRequests = server.requests.map((r) => r.call);
  server.requests.length = 0;
  const noVerify = await runStep('main', { inputs: { ...inputs, verify: 'false' } });
  const noVerifyRequests = server.requests.map((r) => r.call);
  await runStep('post', { inputs, state: noVerify.state });
  await server.stop();

  // The storm: all jobs at once against a creation limit of 10 per 2 s. The floor is the wait the limit
  // forces on the last window, plus one job's own run time.
  const storm = await new VeniceServer({ createLimit: STORM_LIMIT }).start();
  const stormInputs = { 'admin-key': storm.adminKey, 'api-url': storm.apiUrl, timeout: '2m' };
  const stormStart = performance.now();
  const stormMains = await Promise.all(Array.from({ length: STORM_JOBS }, () => runStep('main', { inputs: stormInputs })));
  const stormMs = performance.now() - stormStart;
  await Promise.all(stormMains.map((m) => runStep('post', { inputs: stormInputs, state: m.state })));
  const stormFloorMs = (Math.ceil(STORM_JOBS / STORM_LIMIT.count) - 1) * STORM_LIMIT.windowMs + median(main);
  const stormFailures = stormMains.filter((m) => m.exitCode !== 0).length;
  const stormLeft = storm.liveKeys().length;
  await storm.stop();

  const facts = bundleFacts();
  const results = {
    node: readFileSync(join(REPO, '.node-version'), 'utf8').trim(),
    rounds: ROUNDS,
    bundle: { bytes: facts.bytes, mintPathBytes: facts.mintPathBytes, lazyChunks: facts.lazyChunks, undiciCopies: facts.undiciCopies },
    bareNodeMs: summary(bare),
    mainMs: summary(main),
    postMs: summary(post),
    mainRatio: median(main) / median(bare),
    postRatio: median(post) / median(bare),
    peakRssMiB: { main: peakRssMiB(probedMain), post: peakRssMiB(probedPost) },
    requests: { main: mainRequests, post: postRequests, mainWithoutVerify: noVerifyRequests },
    storm: {
      jobs: STORM_JOBS,
      limit: STORM_LIMIT,
      ms: stormMs,
      floorMs: stormFloorMs,
      ratio: stormMs / stormFloorMs,
      failures: stormFailures,
      keysLeft: stormLeft,
    },
    targets: TARGETS,
  };
  mkdirSync(join(REPO, 'bench'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const ms = (s: { median: number; min: number; max: number }): string =>
    `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  const rows: [string, string, string][] = [
    ...Object.entries(facts.bytes).map(([name, bytes]): [string, string, string] => [
      `bundle dist/${name}`,
      `${(bytes / 1000).toFixed(1)} kB`,
      facts.lazyChunks.includes(name) ? 'loaded only on demand (GitHub calls, proxies)' : 'loaded by main and post',
    ]),
    [
      'bundle, main + post',
      `${(facts.mintPathBytes / 1000).toFixed(1)} kB`,
      `≤ ${TARGETS.bundleBytes / 1000} kB: ${verdict(facts.mintPathBytes <= TARGETS.bundleBytes)}`,
    ],
    ['undici copies', String(facts.undiciCopies), verdict(facts.undiciCopies === 1)],
    ['bare node -e 0', ms(results.bareNodeMs), `median of ${ROUNDS}, interleaved`],
    [
      'main (create + verify)',
      ms(results.mainMs),
      `${results.mainRatio.toFixed(2)}× bare; ≤ ${TARGETS.startupRatio}×: ${verdict(results.mainRatio <= TARGETS.startupRatio)}`,
    ],
    [
      'post (delete)',
      ms(results.postMs),
      `${results.postRatio.toFixed(2)}× bare; ≤ ${TARGETS.startupRatio}×: ${verdict(results.postRatio <= TARGETS.startupRatio)}`,
    ],
    ['peak RSS main / post', `${results.peakRssMiB.main.toFixed(1)} / ${results.peakRssMiB.post.toFixed(1)} MiB`, ''],
    ['requests main', mainRequests.join(' + '), verdict(mainRequests.join() === 'create,verify')],
    ['requests main, verify: false', noVerifyRequests.join(' + '), verdict(noVerifyRequests.join() === 'create')],
    ['requests post', postRequests.join(' + '), verdict(postRequests.join() === 'delete')],
    [
      `storm: ${STORM_JOBS} jobs, ${STORM_LIMIT.count} creates / ${STORM_LIMIT.windowMs / 1000} s`,
      `${(stormMs / 1000).toFixed(2)} s (floor ${(stormFloorMs / 1000).toFixed(2)} s)`,
      `${results.storm.ratio.toFixed(2)}× floor; ≤ ${TARGETS.stormRatio}×: ${verdict(results.storm.ratio <= TARGETS.stormRatio)}; ${stormFailures} failed, ${stormLeft} keys left`,
    ],
  ];
  const width = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(width[i]!)).join('  '));
  console.log('\nwritten to bench/results.json');
} catch (error) {
  console.error(`benchmark could not finish: ${error instanceof Error ? error.message : String(error)}`);
}
process.exit(0);
