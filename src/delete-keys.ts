import type { ActionIO } from './action-io.js';
import { isSameInvocation, type KeyTag } from './description-tag.js';
import { ActionFailure, messageOf } from './errors.js';
import type { ListedKey, VeniceClient } from './venice-client.js';

/** What deleting keys needs: somewhere to log, and Venice. */
export interface DeleteDeps {
  io: ActionIO;
  client: VeniceClient;
}

/**
 * Deletes each key (or only lists it in a dry run), logging each one. One failure does not stop the
 * rest, but the whole call then fails, naming every key it could not delete.
 */
export async function deleteKeys(keys: ListedKey[], deps: DeleteDeps, options: { dryRun?: boolean; why?: string } = {}): Promise<string[]> {
  const deleted: string[] = [];
  const failures: string[] = [];
  for (const key of keys) {
    if (options.dryRun) {
      deps.io.info(`Would delete key ${key.id} "${key.description}" (dry run).`);
      continue;
    }
    try {
      await deps.client.deleteKey(key.id);
      deleted.push(key.id);
      deps.io.info(options.why ? `Deleted key ${key.id} from this step: ${options.why}.` : `Deleted key ${key.id} "${key.description}".`);
    } catch (error) {
      failures.push(`${key.id}: ${messageOf(error)}`);
    }
  }
  if (failures.length > 0) {
    throw new ActionFailure(`deleted ${deleted.length} of ${keys.length} key(s); could not delete ${failures.join('; ')}`);
  }
  return deleted;
}

/** Deletes keys carrying this invocation's tag: keys it made whose secret it never saw. */
export async function deleteInvocationKeys(tag: KeyTag, deps: DeleteDeps, why: string): Promise<number> {
  const keys = (await deps.client.listKeys()).filter((key) => isSameInvocation(key.description, tag));
  return (await deleteKeys(keys, deps, { why })).length;
}
