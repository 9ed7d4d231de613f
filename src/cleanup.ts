import { type ActionIO, STATE } from './action-io.js';
import { deleteInvocationKeys } from './delete-keys.js';
import { type KeyTag, parseTag } from './description-tag.js';
import { messageOf } from './errors.js';
import type { Config } from './inputs.js';
import { type VeniceClient, VeniceError } from './venice-client.js';

export interface CleanupDeps {
  io: ActionIO;
  now: () => number;
  /** Inputs are read only when there is something to delete: a post after a failed main must stay quiet. */
  loadConfig: () => Config;
  connect: (config: Config) => VeniceClient;
}

/**
 * Post step: delete the key main minted. Success when it is deleted or already gone; a failure is a
 * warning naming the key, the status and Venice's text (or a failed step with fail-on-cleanup-error).
 */
export async function cleanUp(deps: CleanupDeps): Promise<void> {
  const { io } = deps;
  const keyId = io.getState(STATE.keyId);
  const expiresAt = io.getState(STATE.expiresAt);
  const tag = parseTag(io.getState(STATE.tag));
  if (!keyId && !tag) {
    io.info('No key was minted in this job; nothing to delete.');
    return;
  }
  const config = deps.loadConfig();
  const client = deps.connect(config);

  if (keyId && config.skipDelete) {
    io.info(`skip-delete is true: key ${keyId} stays usable until it expires at ${expiresAt || 'its expiry'}.`);
    return;
  }
  try {
    await io.group('Delete the key', () => deleteMintedKey(keyId, expiresAt, tag, { io, client, now: deps.now }));
  } catch (error) {
    const message = cleanupFailureMessage(keyId, expiresAt, error);
    if (config.failOnCleanupError) io.setFailed(message);
    else io.warning(message);
  }
}

async function deleteMintedKey(
  keyId: string,
  expiresAt: string,
  tag: KeyTag | undefined,
  { io, client, now }: { io: ActionIO; client: VeniceClient; now: () => number },
): Promise<void> {
  if (!keyId && tag) {
    // Main never saw a key id (it failed, or was cancelled mid-create): find its keys by their tag.
    const count = await deleteInvocationKeys(tag, { io, client }, 'main did not finish with it');
    io.info(count === 0 ? 'No key from this job is left; nothing to delete.' : `Deleted ${count} key(s) left by main.`);
    return;
  }
  if (expiresAt && Date.parse(expiresAt) <= now()) {
    io.info(`Key ${keyId} expired at ${expiresAt}; nothing to delete.`);
    return;
  }
  const outcome = await client.deleteKey(keyId);
  io.info(outcome === 'deleted' ? `Deleted key ${keyId}.` : `Key ${keyId} was already gone.`);
}

function cleanupFailureMessage(keyId: string, expiresAt: string, error: unknown): string {
  const which = keyId ? `key ${keyId}` : 'the keys this job created';
  let what = messageOf(error);
  if (error instanceof VeniceError && error.status !== undefined) {
    what = `HTTP ${error.status}${error.veniceText ? ` "${error.veniceText}"` : ''}: ${error.message}`;
  }
  const until = expiresAt ? `It stays usable until it expires at ${expiresAt}` : 'It stays usable until it expires';
  return `could not delete ${which}. ${what} ${until}; delete it in Venice's dashboard (API keys) if that is too long.`;
}
