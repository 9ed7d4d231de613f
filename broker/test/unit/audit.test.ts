// One audit line per decision: named fields only, a reason kept to one short line; refusals before a
// rule counted per window, their line written when the window ends (or the broker stops).
import { expect, test } from 'vitest';
import { type AuditRecord, auditLine, RefusalLog } from '../../src/observe/audit.ts';

test('a long reason is cut to 500 characters, so one decision stays one short line', () => {
  const line = JSON.parse(auditLine({ action: 'mint', outcome: 'refused', status: 403, reason: 'x'.repeat(600) }, 0)) as { reason: string };
  expect(line.reason).toBe(`${'x'.repeat(500)}…`);
  expect(JSON.parse(auditLine({ action: 'mint', outcome: 'refused', status: 403, reason: 'short' }, 0))).toMatchObject({ reason: 'short' });
});

test('refusals past the lines a window allows are counted, and the count is written when the window ends or the log closes', () => {
  let now = 0;
  const lines: string[] = [];
  const audited: AuditRecord[] = [];
  const log = new RefusalLog({
    linesPerWindow: 1,
    windowMs: 60_000,
    now: () => now,
    write: (line) => lines.push(line),
    audit: (record) => audited.push(record),
  });
  const refusal: AuditRecord = { action: 'mint', outcome: 'refused', status: 401 };
  log.record(refusal, 'exp', '10.0.0.1');
  log.record(refusal, 'exp', '10.0.0.2');
  log.record({ ...refusal, status: 403 }, 'no-rule', '10.0.0.2');
  expect(audited).toHaveLength(1);
  log.roll(); // the window is not over: nothing yet
  expect(lines).toEqual([]);
  now = 61_000;
  log.roll();
  expect(JSON.parse(lines[0] as string)).toMatchObject({
    action: 'refusals',
    count: 2,
    byReason: { '401 exp': 1, '403 no-rule': 1 },
    addresses: 1,
  });
  log.roll(true); // a window with nothing counted writes nothing
  expect(lines).toHaveLength(1);
  log.record(refusal, 'exp', '10.0.0.3');
  log.record(refusal, 'exp', '10.0.0.3');
  log.close();
  expect(JSON.parse(lines[1] as string)).toMatchObject({ count: 1 });
});
