/**
 * The direct backend: the job holds the admin key and talks to Venice itself. The tag is built here
 * and saved in the step's state before the create is sent, so post can find a key whose answer was
 * lost; a run key's handle is sealed here with the admin key; rotation and revocation list Venice and
 * delete through core/delete-keys.ts, which touches only keys whose tag names this repository.
 */
import {
  type DeletedKeys,
  deleteInvocationKeys,
  deleteKeys,
  deleteTaggedKey,
  listedFacts,
  type OwnedKey,
  ownedKeys,
  type SingleOutcome,
} from '../../core/delete-keys.js';
import { buildDescription, formatTag, type KeyTag, tagForRequest } from '../../core/description-tag.js';
import { type HandleBinding, openRunKey, sealHandle } from '../../core/key-handle.js';
import { endsWithPullRequest, factsOfTag, isOlderInSlot } from '../../core/ownership.js';
import { createKeyBody } from '../../core/venice-api.js';
import type { VeniceClient } from '../../core/venice-client.js';
import { type ActionIO, STATE } from '../runner/action-io.js';
import { handleAdviceForWorkflow } from '../runner/handle-advice.js';
import type { Config } from '../runner/inputs.js';
import type { RunContext } from '../runner/run-context.js';
import type { KeyBackend, Minted, MintOrder, RunKey } from './key-backend.js';

export interface DirectDeps {
  io: ActionIO;
  client: VeniceClient;
  context: RunContext;
  now: () => number;
  /** The admin key: it seals and opens run keys' handles. */
  adminKey: string;
  /** Random per-invocation token for the tag. */
  newToken: () => string;
}

export function directBackend(deps: DirectDeps): KeyBackend {
  const { io, client, context } = deps;
  const repository = context.repository;
  const binding = { adminKey: deps.adminKey, repository, runId: context.runId };
  // An attempt of the create went unanswered: its key could still appear, so post must keep watching.
  let createMayLandLate = false;
  const deleting = { io, client, repository };
  const listOwned = async (): Promise<OwnedKey[]> => ownedKeys(await client.listKeys(), repository);
  return {
    via: '',
    async mint(order) {
      const made = await createTagged(order, deps, binding);
      createMayLandLate = made.mayLandLate;
      return made.key;
    },
    async discard(key) {
      await client.forCleanup().deleteKey(key.id);
      return { postMustWatch: createMayLandLate };
    },
    async rotateOlder(key) {
      const keys = await listOwned();
      const listed = keys.find((owned) => owned.id === key.id);
      const newest = listed ? listedFacts(listed) : factsOfTag(key.tag);
      // Only older keys: a run for a later push may already have minted a newer one, which must stay.
      const older = keys.filter((owned) => owned.id !== key.id && isOlderInSlot(listedFacts(owned), newest));
      return (await deleteKeys(older, deleting, { why: 'rotated out' })).ids;
    },
    async openHandle(handle): Promise<RunKey> {
      return openRunKey(handle, binding, io.setSecret, handleAdviceForWorkflow);
    },
    deleteKey: (id: string, tag: KeyTag): Promise<SingleOutcome> => deleteTaggedKey({ id, tag }, deleting),
    deleteLeftovers: (tag, keep) => deleteInvocationKeys(tag, deleting, { why: 'main did not hand it out', keep }),
    listOwned,
    async revokePr(pr, dryRun) {
      const keys = (await listOwned()).filter((key) => endsWithPullRequest(listedFacts(key), { number: pr }));
      io.info(`${keys.length} key(s) of ${repository} PR #${pr} found.`);
      const deleted = await io.group(`Delete the keys of PR #${pr}`, () => deleteKeys(keys, deleting, { dryRun, readFirst: true }));
      return { keys, deleted };
    },
    deleteOwned: (keys: OwnedKey[], dryRun: boolean): Promise<DeletedKeys> => deleteKeys(keys, deleting, { dryRun }),
  };
}

/**
 * The create, with its tag saved in state before it is sent (post finds a key whose answer was lost)
 * and the key masked the moment it arrives.
 */
async function createTagged(
  { config, pr, slot }: MintOrder,
  deps: DirectDeps,
  binding: HandleBinding,
): Promise<{ key: Minted; mayLandLate: boolean }> {
  const { io, client, context } = deps;
  const tag = tagForRequest(
    context.repository,
    { ...config, slot },
    { pr, runId: context.runId, runAttempt: context.runAttempt, token: deps.newToken() },
  );
  const { description, labelTruncated } = buildDescription(config.label, tag);
  io.saveState(STATE.tag, formatTag(tag));
  let mayLandLate = true;
  io.saveState(STATE.createPendingUntil, String(deps.now() + config.timeoutMs));
  const body = createKeyBody(config, description, deps.now());
  // Nothing the user or Venice wrote is printed until the new key is masked.
  io.info(`Creating a ${scopeText(config)} inference key, expiring at ${body.expiresAt}.`);
  const created = await client.createKey(body, {
    recover: async () => {
      await deleteInvocationKeys(tag, { io, client: client.forCleanup(), repository: context.repository }, { why: 'its answer was lost' });
    },
    // Every attempt was answered: no key can land later, so post need not watch for one.
    nothingCanLand: () => {
      io.saveState(STATE.createPendingUntil, '');
      mayLandLate = false;
    },
    // The create failed and made nothing that is left (refused, or its key deleted): post has nothing to do.
    nothingLeft: () => {
      io.saveState(STATE.tag, '');
      io.saveState(STATE.createPendingUntil, '');
    },
  });
  io.setSecret(created.apiKey); // the moment it arrives, before anything else can print
  const handle =
    config.scope === 'run'
      ? sealHandle({ apiKey: created.apiKey, keyId: created.id, expiresAt: created.expiresAt, description: created.description }, binding)
      : undefined;
  const notes = labelTruncated ? ["The label was shortened to fit Venice's 64 characters with the action's tag."] : [];
  return { key: { ...created, tag, handle, granted: config, broker: undefined, notes }, mayLandLate };
}

function scopeText(config: Config): string {
  if (config.scope === 'run') return 'run (shared by this run\u2019s jobs)';
  if (config.scope === 'pr') return 'preview (PR)';
  return config.skipDelete ? 'job (kept after the job: skip-delete)' : 'job';
}
