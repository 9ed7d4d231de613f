/**
 * Every deletion goes through here: post, recovery after an ambiguous create, rotate, revoke and sweep.
 * A key is deleted only when its maker (the action or the broker) owns it for this repository: its description ends in this
 * action's tag naming this repository exactly, it is an INFERENCE key, and it has an expiry. Anything
 * else (hand-made keys with look-alike descriptions, admin keys, never-expiring keys, other
 * repositories' keys) is never touched, whatever it is called.
 */
import { hasTag, isTagOfRepository, type KeyTag, parseTag } from './description-tag.js';
import { ActionFailure, messageOf } from './errors.js';
import { factsOfTag, type KeyFacts } from './ownership.js';
import { quoted } from './safe-text.js';
import { roundAmount } from './spend.js';
import type { ListedKey } from './venice-api.js';
import type { VeniceClient } from './venice-client.js';

/** Log lines only: the broker, which deletes through here too, has no runner to talk to. */
export interface DeleteLog {
  info: (message: string) => void;
  warning: (message: string) => void;
}

export interface DeleteDeps {
  /** Where each deletion is said: the step's log, or the broker's. */
  io: DeleteLog;
  client: VeniceClient;
}

export interface OwnedKey extends ListedKey {
  tag: KeyTag;
}

export interface Spent {
  usd: number;
  diem: number;
}

/** The tag of a key owned for `repository` (one the action or the broker made for it), or undefined. */
export function ownerTag(key: Pick<ListedKey, 'description' | 'apiKeyType' | 'expiresAt'>, repository: string): KeyTag | undefined {
  if (key.apiKeyType !== 'INFERENCE' || key.expiresAt === null) return undefined;
  const tag = parseTag(key.description);
  return tag && isTagOfRepository(tag, repository) ? tag : undefined;
}

/**
 * A listed key's facts on the direct path: its tag, and Venice's createdAt as when it was handed out (the
 * direct path hands a key out the moment Venice creates it). The broker's facts come from its leases.
 */
export function listedFacts(key: OwnedKey): KeyFacts {
  const created = key.createdAt ? Date.parse(key.createdAt) : Number.NaN;
  return factsOfTag(key.tag, Number.isNaN(created) ? undefined : created);
}

export function ownedKeys(keys: ListedKey[], repository: string): OwnedKey[] {
  return keys.flatMap((key) => {
    const tag = ownerTag(key, repository);
    return tag ? [{ ...key, tag }] : [];
  });
}

export type SingleOutcome =
  | { outcome: 'deleted' | 'already-gone'; spent: Spent | undefined }
  | { outcome: 'not-ours'; description: string };

/**
 * Deletes one key by id after reading it (GET /api_keys/{id}): the read confirms the id still carries
 * `tag` and is owned by this repository (an id that does not is never deleted) and tells what the key
 * spent. A failed read is only a warning: the id came from the caller's own state, so it is deleted.
 */
export async function deleteTaggedKey(
  { id, tag }: { id: string; tag: KeyTag },
  deps: DeleteDeps & { repository: string },
): Promise<SingleOutcome> {
  let spent: Spent | undefined;
  try {
    const details = await deps.client.getKey(id);
    if (details === undefined) return { outcome: 'already-gone', spent: undefined };
    if (!hasTag(details.description, tag) || ownerTag(details, deps.repository) === undefined) {
      return { outcome: 'not-ours', description: details.description };
    }
    spent = details.spent;
  } catch (error) {
    deps.io.warning(`could not read key ${id} before deleting it (${messageOf(error)}); deleting it without a spend report.`);
  }
  return { outcome: await deps.client.deleteKey(id), spent };
}

export interface DeletedKeys {
  ids: string[];
  spent: Spent;
  /** Keys whose spend could not be read. */
  unread: number;
}

/**
 * Deletes each owned key (or only lists it in a dry run), logging each one. With `readFirst`, each is
 * read first for its spend (revoke). One failure does not stop the rest, but the call then fails,
 * naming every key it could not delete.
 */
export async function deleteKeys(
  keys: OwnedKey[],
  deps: DeleteDeps & { repository: string },
  options: { dryRun?: boolean; readFirst?: boolean; why?: string } = {},
): Promise<DeletedKeys> {
  const result: DeletedKeys = { ids: [], spent: { usd: 0, diem: 0 }, unread: 0 };
  const failures: string[] = [];
  for (const key of keys) {
    const named = `key ${key.id} ${quoted(key.description)}`;
    if (options.dryRun) {
      deps.io.info(`Would delete ${named} (dry run).`);
      continue;
    }
    try {
      let spent: Spent | undefined;
      if (options.readFirst) {
        const single = await deleteTaggedKey(key, deps);
        if (single.outcome === 'not-ours') {
          deps.io.warning(`kept ${named}: Venice now shows it as ${quoted(single.description)}, which is not the tag it was minted with.`);
          continue;
        }
        spent = single.spent;
      } else {
        await deps.client.deleteKey(key.id);
      }
      result.ids.push(key.id);
      if (spent) {
        result.spent = { usd: roundAmount(result.spent.usd + spent.usd), diem: roundAmount(result.spent.diem + spent.diem) };
      } else if (options.readFirst) {
        result.unread++;
      }
      deps.io.info(`Deleted ${named}${options.why ? `: ${options.why}` : ''}.${spent ? ` It spent ${spentText(spent)}.` : ''}`);
    } catch (error) {
      failures.push(`${key.id}: ${messageOf(error)}`);
    }
  }
  if (failures.length > 0) {
    throw new ActionFailure(`deleted ${result.ids.length} of ${keys.length} key(s); could not delete ${failures.join('; ')}`);
  }
  return result;
}

/**
 * Deletes the keys carrying exactly this invocation's tag: keys it made whose secret it never saw. `keep`
 * is the one key the invocation did hand out (a run or preview key lives on with the same tag).
 */
export async function deleteInvocationKeys(
  tag: KeyTag,
  deps: DeleteDeps & { repository: string },
  options: { why: string; keep?: string | undefined },
): Promise<number> {
  const { why, keep } = options;
  const keys = ownedKeys(await deps.client.listKeys(), deps.repository).filter((key) => hasTag(key.description, tag) && key.id !== keep);
  return (await deleteKeys(keys, deps, { why })).ids.length;
}

export function spentText(spent: Spent): string {
  return `${spent.usd} USD and ${spent.diem} DIEM (trailing seven days)`;
}
