// The browser tests' gate (gate.ts) and driver: Debian's headless Chromium, run as a command (no driver
// library: the page has no script, so loading it and reading the DOM, and taking a screenshot, is all a
// test needs).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gate } from '../../../testkit/gate.ts';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];
export const CHROMIUM = CANDIDATES.find((name) => spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0);

/** `test` when Chromium is here, else `test.skip`. */
export const withChromium = gate(
  CHROMIUM !== undefined,
  'chromium is not installed: the status page browser test is skipped (apt-get install chromium)',
  'browser tests',
);

/**
 * Flags for a headless run on a closed machine: no sandbox (tests may run as root), and none of
 * Chromium's own background connections (this machine refuses them, and they would leave loopback).
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-default-apps',
  '--metrics-recording-only',
  '--no-default-browser-check',
  '--window-size=1280,900',
];

function run(args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'vek-chromium-'));
  return new Promise<string>((resolve, reject) => {
    execFile(
      CHROMIUM as string,
      [...FLAGS, `--user-data-dir=${profile}`, ...args],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        rmSync(profile, { recursive: true, force: true });
        if (error) reject(new Error(`chromium failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** The page at `url` as Chromium rendered it: its DOM, serialised after load. */
export function renderedDom(url: string): Promise<string> {
  return run(['--dump-dom', url]);
}

/** A PNG of the page at `url`, written to `path`. */
export async function screenshot(url: string, path: string): Promise<void> {
  await run([`--screenshot=${path}`, url]);
}
