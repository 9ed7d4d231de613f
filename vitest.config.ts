import { defineConfig } from 'vitest/config';
import ClosingLineReporter from './test/support/closing-line-reporter.ts';

export default defineConfig({
  plugins: [
    {
      // GitHub's workflow parser (inlined below) ships source maps that name files it does not ship, and
      // Vite warned about each of them, 112 lines a run. Only that warning is dropped.
      name: 'quiet-missing-source-maps',
      configResolved(config) {
        const warnOnce = config.logger.warnOnce.bind(config.logger);
        config.logger.warnOnce = (message, options) => {
          if (!/^Sourcemap for ".*" points to missing source files/.test(message)) warnOnce(message, options);
        };
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts', 'broker/test/**/*.test.ts'],
    reporters: ['default', new ClosingLineReporter()],
    // undici warns once per process that its proxy agent is experimental: the proxy tests use it on
    // purpose (through its public entry, as the action does), and the warning said nothing to a reader.
    execArgv: ['--disable-warning=UNDICI-EHPA'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // GitHub's workflow parser imports JSON without import attributes: let Vite transform it.
    server: { deps: { inline: [/@actions\/(languageservice|workflow-parser|expressions)/] } },
    coverage: {
      // The gate covers src/ and broker/src/ as run in-process; the scenario tests run the same code as
      // dist/ and broker/dist/ in child processes, which coverage cannot see (broker/src/server.ts, the
      // broker's command line, runs only that way).
      enabled: true,
      provider: 'v8',
      include: ['core/**', 'src/**', 'broker/src/**'],
      exclude: ['broker/src/server.ts'],
      reporter: ['text-summary'],
      thresholds: { lines: 100, branches: 95 },
    },
  },
});
