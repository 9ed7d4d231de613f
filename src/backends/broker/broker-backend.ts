/**
 * The broker backend: no admin key in the job. This folder (with the broker client and the OIDC
 * request) is the broker path's own chunk, loaded by steps.ts only with broker-url. The broker builds
 * the tag from the job's OIDC token, applies its policy, seals a run key's handle and rotates a
 * preview slot at the mint; the action sends its validated key inputs and checks every answer
 * (broker-client.ts). A job key is deleted by post through the broker; the broker, not post, finds a
 * key whose answer was lost (its mint journal), so there are no leftovers to look for here.
 */
import type { Deadline } from '../../../core/deadline.js';
import type { OwnedKey } from '../../../core/delete-keys.js';
import { ActionFailure } from '../../../core/errors.js';
import type { HttpTransport } from '../../../core/http.js';
import { keyRequestFields } from '../../../core/key-request.js';
import type { RetryPolicy } from '../../../core/retry.js';
import { quoted } from '../../../core/safe-text.js';
import type { ActionIO } from '../../runner/action-io.js';
import type { RunContext } from '../../runner/run-context.js';
import type { KeyBackend } from '../key-backend.js';
import { BrokerClient } from './broker-client.js';
import { requestIdToken } from './id-token.js';

export interface BrokerConnection {
  brokerUrl: string;
  audience: string;
  env: Record<string, string | undefined>;
  transport: HttpTransport;
  deadline: Deadline;
  policy: RetryPolicy;
  io: ActionIO;
  context: RunContext;
  signal: AbortSignal;
}

/** The broker backend for this step: each request carries a fresh OIDC token from the runner. */
export function brokerBackend(connection: BrokerConnection): KeyBackend {
  const { io, brokerUrl } = connection;
  const broker = connectBroker(connection);
  // What the broker did to the slot's older keys at the mint (undefined: it could not).
  let rotated: string[] | undefined;
  return {
    via: ' through the broker',
    async mint({ config, pr, slot }) {
      // The broker reads the PR from the token; pr-number is sent only for a preview key (e.g. a closing run's).
      const preview = config.scope === 'pr';
      const fields = keyRequestFields({ ...config, prNumber: preview ? pr : undefined, slot: preview ? slot || 'default' : '' });
      io.info(`Asking the broker at ${brokerUrl} for a ${config.scope} key.`);
      const key = await broker.mint(fields, { rotate: config.rotate });
      rotated = key.rotated;
      const { tag, handle, rule, clamped } = key;
      return {
        id: key.id,
        apiKey: key.apiKey,
        description: key.description,
        expiresAt: key.expiresAt,
        tag,
        handle,
        broker: { rule, clamped },
        // What the broker granted; the request's own where the answer did not say.
        granted: { ...config, ...key.granted },
        notes: [],
      };
    },
    async discard(key) {
      await broker.deleteKey(key.id);
      return { postMustWatch: false };
    },
    async rotateOlder() {
      if (rotated === undefined) throw new ActionFailure('the broker said its rotation failed');
      return rotated;
    },
    openHandle: (handle) => io.group("Open the run's key-handle through the broker", () => broker.unwrap(handle)),
    deleteKey: (id) => broker.deleteKey(id),
    deleteLeftovers: undefined,
    listOwned: () => broker.listKeys(),
    revokePr: (pr, dryRun) =>
      io.group(`Delete the keys of PR #${pr} through the broker`, async () => {
        const result = await broker.revokePr(pr, dryRun);
        reportDeletions(io, result.keys, result.deleted.ids, dryRun);
        return result;
      }),
    async deleteOwned(keys, dryRun) {
      const { deleted } = await broker.sweep(keys, dryRun);
      reportDeletions(io, keys, deleted.ids, dryRun);
      return deleted;
    },
  };
}

function connectBroker(options: BrokerConnection): BrokerClient {
  const { io, transport, deadline, signal } = options;
  return new BrokerClient({
    brokerUrl: options.brokerUrl,
    transport,
    deadline,
    policy: options.policy,
    log: io.info,
    mask: io.setSecret,
    repository: options.context.repository,
    runId: options.context.runId,
    signal,
    idToken: () =>
      requestIdToken({
        env: options.env,
        audience: options.audience,
        transport,
        timeoutMs: Math.max(1_000, Math.min(30_000, deadline.remainingMs())),
        signal,
        mask: io.setSecret,
      }),
  });
}

/**
 * What the broker did with the keys a revoke or sweep named, one line each as a direct deletion is
 * logged: deleted, kept by the broker (no longer this repository's to delete), or, in a dry run, to go.
 */
function reportDeletions(io: Pick<ActionIO, 'info'>, keys: OwnedKey[], deletedIds: string[], dryRun: boolean): void {
  for (const key of keys) {
    const verb = dryRun ? 'Would delete' : deletedIds.includes(key.id) ? 'Deleted' : 'The broker kept';
    io.info(`${verb} key ${key.id} ${quoted(key.description)}${dryRun ? ' (dry run)' : ''}.`);
  }
}
