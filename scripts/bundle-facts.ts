// Facts about the committed dist/ that the budget test checks and `npm run bench` prints.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../fakes/runner.ts';

const DIST = join(REPO, 'dist');
/** What the runner loads for a plain mint: the two entries and the bundle they share. */
export const MINT_PATH_FILES = ['main.js', 'post.js', 'index.js'];
export const BUNDLE_BUDGET_BYTES = 1_100_000;
const OCTOKIT = /octokit-core\.js|class Octokit/;
const UNDICI = /undici\.error\.UND_ERR_CONNECT_TIMEOUT/;
const BROKER_PATH = /ACTIONS_ID_TOKEN_REQUEST_URL/;

export interface BundleFacts {
  bytes: Record<string, number>;
  mintPathBytes: number;
  /** Chunks loaded only on demand (Octokit for the modes that ask GitHub, undici for proxies, the broker path). */
  lazyChunks: string[];
  /** Copies of undici across all of dist/: each copy carries its error-code table once. */
  undiciCopies: number;
  octokitOnMintPath: boolean;
  /** The broker path (its client and the OIDC request) is loaded only with broker-url. */
  brokerPathOnMintPath: boolean;
  brokerPathInLazyChunks: boolean;
  /** Positive controls for the two checks above: the on-demand chunks do hold undici and Octokit. */
  undiciInLazyChunks: boolean;
  octokitInLazyChunks: boolean;
}

export function bundleFacts(): BundleFacts {
  const files = readdirSync(DIST).filter((name) => name.endsWith('.js'));
  const text = (name: string): string => readFileSync(join(DIST, name), 'utf8');
  const bytes = Object.fromEntries(files.map((name) => [name, statSync(join(DIST, name)).size]));
  return {
    bytes,
    mintPathBytes: MINT_PATH_FILES.reduce((sum, name) => sum + (bytes[name] ?? 0), 0),
    lazyChunks: files.filter((name) => !MINT_PATH_FILES.includes(name)),
    undiciCopies: files.reduce((sum, name) => sum + (text(name).match(new RegExp(UNDICI, 'g'))?.length ?? 0), 0),
    octokitOnMintPath: MINT_PATH_FILES.some((name) => OCTOKIT.test(text(name))),
    brokerPathOnMintPath: MINT_PATH_FILES.some((name) => BROKER_PATH.test(text(name))),
    brokerPathInLazyChunks: files.filter((name) => !MINT_PATH_FILES.includes(name)).some((name) => BROKER_PATH.test(text(name))),
    undiciInLazyChunks: files.filter((name) => !MINT_PATH_FILES.includes(name)).some((name) => UNDICI.test(text(name))),
    octokitInLazyChunks: files.filter((name) => !MINT_PATH_FILES.includes(name)).some((name) => OCTOKIT.test(text(name))),
  };
}
