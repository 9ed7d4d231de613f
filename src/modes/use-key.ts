/**
 * Main step, mode use: a job of the run takes the run's key from the minting job's key-handle. The
 * handle is opened (it must be from this repository and run, sealed with this admin key), the key is
 * masked before anything else, checked to be still live, and published with the same outputs as a mint.
 * No key is created, and the post step has nothing to do.
 */

import { ActionFailure } from '../../core/errors.js';
import { quoted } from '../../core/safe-text.js';
import type { VeniceClient } from '../../core/venice-client.js';
import { VeniceError } from '../../core/venice-errors.js';
import type { KeyBackend } from '../backends/key-backend.js';
import type { ActionIO } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import { useSummary, writeSummary } from '../runner/summary.js';
import { publishKey } from './outputs.js';

export interface UseDeps {
  io: ActionIO;
  client: VeniceClient;
  now: () => number;
  /** Opens the handle: here with the admin key, or the broker (it holds the handle's key). */
  backend: KeyBackend;
}

const RERUN_ADVICE =
  'If this is a "Re-run failed jobs" attempt, the run\'s last job already revoked the key: use "Re-run all jobs" so the key is minted again.';

export async function useRunKey(config: Config, deps: UseDeps): Promise<void> {
  const { io } = deps;
  const key = await deps.backend.openHandle(config.keyHandle);
  if (Date.parse(key.expiresAt) <= deps.now()) {
    throw new ActionFailure(`the run's key ${key.keyId} expired at ${key.expiresAt}. Mint it with a longer expires-in. ${RERUN_ADVICE}`);
  }
  if (config.verify) {
    await io.group("Check the run's key is live", async () => {
      let permitted: boolean;
      try {
        permitted = await deps.client.verifyKey(key.apiKey);
      } catch (error) {
        if (error instanceof VeniceError && error.status === 401) {
          throw new ActionFailure(`the run's key ${key.keyId} no longer works: it was deleted or has expired. ${RERUN_ADVICE}`);
        }
        throw error;
      }
      if (!permitted) {
        throw new ActionFailure(
          `the run's key ${key.keyId} exists but Venice reports accessPermitted: false for it (balance or limits spent).`,
        );
      }
      io.info(`Verified: Venice accepts key ${key.keyId}.`);
    });
  }
  publishKey(io, { id: key.keyId, apiKey: key.apiKey, expiresAt: key.expiresAt, description: key.description }, config.exportEnv);
  io.info(`Using the run's key ${key.keyId} ${quoted(key.description)}; it expires at ${key.expiresAt}.`);
  await writeSummary(io, useSummary(key.keyId, key.description, key.expiresAt, config.verify));
}
