// Which version runs: `server.js --version`, the start line and broker_build_info all say what
// broker/package.json says, from the committed bundle run as its own process. /metrics also carries
// Node's process metrics (resident memory, heap, event-loop lag, open file descriptors), readiness and
// the queue timeout, so a soak or an alert needs no shell on the host.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { NODE24, REPO } from '../../fakes/runner.ts';
import { stopAll } from '../../testkit/stop.ts';
import { spawnBroker, startFakes, TEST_DEFAULTS } from './support/broker-bed.ts';
import { scrape } from './support/metrics.ts';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'broker/package.json'), 'utf8')) as { version: string }).version;

test('--version, the start line and broker_build_info agree with broker/package.json', async () => {
  const printed = execFileSync(NODE24, [join(REPO, 'broker/dist/server.js'), '--version'], { encoding: 'utf8', timeout: 10_000 });
  expect(printed).toBe(`venice-key-broker ${VERSION}\n`);
  const { venice, issuer } = await startFakes();
  const broker = await spawnBroker({ venice, issuer, defaults: TEST_DEFAULTS, limits: { 'queue-timeout': '90s' } });
  try {
    const start = broker.logs
      .map((line) => (line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : {}))
      .find((line) => String(line.message).startsWith('listening on'));
    expect(start?.version).toBe(VERSION);
    const metrics = await scrape(broker);
    expect(metrics.value('broker_build_info', { version: VERSION })).toBe(1);
    expect(metrics.value('broker_ready')).toBe(1);
    expect(metrics.value('broker_queue_timeout_seconds')).toBe(90);
    expect(metrics.value('broker_venice_hold_seconds')).toBe(0);
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'process_open_fds',
    ]) {
      expect(
        metrics.families.some((family) => family.name === name),
        name,
      ).toBe(true);
    }
  } finally {
    await stopAll(broker, issuer, venice);
  }
});
