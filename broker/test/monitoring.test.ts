// The shipped alerts and dashboard (broker/monitoring/) are tested: promtool checks the rules and runs
// their unit tests, every alert has one, every metric an alert or a panel reads is exported by a live
// broker's /metrics (a made-up name is caught: positive control), and `promtool check metrics` finds
// nothing to say about /metrics (names, units, help).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parse } from 'yaml';
import { REPO } from '../../fakes/runner.ts';
import { stopAll } from '../../testkit/stop.ts';
import { startFakes, startTestBroker, TEST_DEFAULTS } from './support/broker-bed.ts';
import { promtool, withPromtool } from './support/promtool.ts';

const MONITORING = join(REPO, 'broker', 'monitoring');
const alerts = parse(readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
const ruleTests = parse(readFileSync(join(MONITORING, 'alerts.test.yaml'), 'utf8')) as {
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
};
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
const rules = alerts.groups.flatMap((group) => group.rules);

/** Metric names a PromQL expression reads (Prometheus's own `up` aside); histogram series as their family. */
function metricsRead(expr: string): string[] {
  const names = expr.match(/\b(?:broker|process|nodejs)_[a-z0-9_]+\b/g) ?? [];
  return names.map((name) => name.replace(/_(bucket|sum|count)$/, ''));
}

/** Names read by `exprs` that the exposition text does not export. */
function missingFrom(exposition: string, exprs: string[]): string[] {
  const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map(([, name]) => name as string));
  return [...new Set(exprs.flatMap(metricsRead))].filter((name) => !exported.has(name));
}

async function liveMetrics(): Promise<string> {
  const { venice, issuer } = await startFakes();
  const broker = await startTestBroker({ venice, issuer, defaults: TEST_DEFAULTS });
  try {
    const response = await fetch(`${broker.metricsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return await response.text();
  } finally {
    await stopAll(broker, issuer, venice);
  }
}

withPromtool('promtool checks the rules and passes their unit tests; every alert has a test that fires it', () => {
  const checked = promtool(['check', 'rules', join(MONITORING, 'alerts.yaml')]);
  expect(checked.output).toContain(`SUCCESS: ${rules.length} rules found`);
  const tested = promtool(['test', 'rules', join(MONITORING, 'alerts.test.yaml')]);
  expect(tested.output.trim().split('\n').at(-1)?.trim(), tested.output).toBe('SUCCESS');
  expect(tested.status).toBe(0);
  const fired = new Set(
    ruleTests.tests.flatMap((one) => one.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname)),
  );
  expect(rules.map((rule) => rule.alert).filter((alert) => !fired.has(alert))).toEqual([]);
});

withPromtool('every metric the alerts and the dashboard read is exported, and promtool check metrics has nothing to say', async () => {
  const exposition = await liveMetrics();
  const exprs = [...rules.map((rule) => rule.expr), ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr))];
  expect(exprs.flatMap(metricsRead).length).toBeGreaterThan(20);
  expect(missingFrom(exposition, exprs)).toEqual([]);
  // Positive control: a name the broker does not export is caught.
  expect(missingFrom(exposition, ['rate(broker_mints_made_total[5m])', 'broker_queue_wait_seconds_bucket'])).toEqual([
    'broker_mints_made_total',
  ]);
  const linted = promtool(['check', 'metrics'], exposition);
  expect(linted.output).toBe('');
  expect(linted.status).toBe(0);
});
