/**
 * What the modes hand the rest of the workflow: the key's outputs (mint, use, and mint through the
 * broker) and what revoke and sweep deleted, and the checks every mint path shares before it publishes.
 */
import type { DeletedKeys } from '../../core/delete-keys.js';
import { ActionFailure } from '../../core/errors.js';
import type { MintedKey } from '../../core/venice-api.js';
import type { VeniceClient } from '../../core/venice-client.js';
import type { ActionIO } from '../runner/action-io.js';

/** Asks Venice, with the new key itself, whether it may be used (direct and broker mints alike). */
export async function verifyNewKey(key: MintedKey, deps: { client: VeniceClient; io: Pick<ActionIO, 'info'> }): Promise<void> {
  if (!(await deps.client.verifyKey(key.apiKey))) {
    throw new ActionFailure(
      `the new key ${key.id} was created but Venice reports accessPermitted: false for it, so it cannot be used. ` +
        'Check the account balance and the limits (a limit of 0 allows no spending), or set verify: false.',
    );
  }
  deps.io.info(`Verified: Venice accepts key ${key.id}.`);
}

/** The outputs every mint sets (and export-env), once the key is verified. */
export function publishKey(io: ActionIO, key: MintedKey, exportEnv: string | undefined): void {
  io.setOutput('api-key', key.apiKey);
  io.setOutput('key-id', key.id);
  io.setOutput('expires-at', key.expiresAt);
  io.setOutput('description', key.description);
  if (exportEnv) io.exportVariable(exportEnv, key.apiKey);
}

/** The outputs of revoke and sweep: what was deleted (nothing, in a dry run, which the log says). */
export function publishDeleted(io: ActionIO, deleted: DeletedKeys, dryRun: boolean): void {
  io.setOutput('deleted-count', String(deleted.ids.length));
  io.setOutput('deleted-ids', deleted.ids.join(','));
  if (dryRun) io.info('Dry run: nothing was deleted.');
}
