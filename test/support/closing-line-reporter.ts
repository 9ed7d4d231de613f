// Adds one plain closing line after vitest's own report, "tests: N passed, N failed[, N skipped]",
// so a tool reading only the last lines of CI's output sees what ran, and above it each skipped test by
// name (a test that may be skipped says why in its name).
import type { Reporter, TestModule } from 'vitest/node';

export default class ClosingLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const skippedNames: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else {
          counts.skipped++;
          skippedNames.push(`${module.moduleId.replace(/^.*?\/(test|broker)\//, '$1/')}: ${test.name}`);
        }
      }
    }
    const skipped = counts.skipped ? `, ${counts.skipped} skipped` : '';
    for (const name of skippedNames) process.stdout.write(`\nskipped: ${name}`);
    process.stdout.write(`\ntests: ${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
  }
}
