/**
 * The key handle: how a `scope: run` key travels from the job that minted it to the jobs that use it.
 *
 *   vek1.<run id>.<repository hash>.<base64url(iv ‖ AES-256-GCM ciphertext ‖ tag)>
 *
 * The secret is encrypted with a key derived (HKDF-SHA256) from the admin key, and bound to the
 * repository and run as associated data, so the handle is useless without the admin key and outside its
 * run. It carries no registered secret in clear, so GitHub passes it as a job output and into reusable
 * workflows. The run id and a short repository hash are in clear only to say precisely why a handle was
 * refused; they are authenticated as part of the associated data.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { isTagOfRepository, type KeyTag, parseTag } from './description-tag.js';
import { ActionFailure } from './errors.js';

const VERSION = 'vek1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The shape of a handle that is sealed here (about 320 characters); anything else is not one. */
export function isKeyHandle(value: unknown): value is string {
  return typeof value === 'string' && /^vek1\.[0-9A-Za-z._-]{1,4096}$/.test(value);
}

export interface HandleContents {
  apiKey: string;
  keyId: string;
  expiresAt: string;
  description: string;
}

export interface HandleBinding {
  adminKey: string;
  repository: string;
  runId: string;
}

function repositoryHash(repository: string): string {
  return createHash('sha256').update(repository.toLowerCase()).digest('hex').slice(0, 8);
}

function encryptionKey(adminKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', adminKey, 'venice-ephemeral-key', 'key-handle v1', 32));
}

function associatedData(header: string, repository: string): Buffer {
  return Buffer.from(`${header}|${repository.toLowerCase()}`);
}

export function sealHandle(contents: HandleContents, binding: HandleBinding): string {
  const header = `${VERSION}.${binding.runId}.${repositoryHash(binding.repository)}`;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey(binding.adminKey), iv);
  cipher.setAAD(associatedData(header, binding.repository));
  const plaintext = JSON.stringify({ k: contents.apiKey, i: contents.keyId, e: contents.expiresAt, d: contents.description });
  const sealed = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${header}.${sealed.toString('base64url')}`;
}

/** Why a handle does not open here. */
export type HandleProblem = 'cut-short' | 'other-repository' | 'other-run' | 'not-opened' | 'not-run-key';

/** What each program tells its reader about a handle that does not open (the binding and the handle's run). */
export type HandleWording = (problem: HandleProblem, facts: { repository: string; runId: string; handleRunId: string }) => string;

/** A handle that does not open here: its kind, worded by the program that tried. */
export class HandleRefused extends ActionFailure {
  constructor(
    readonly problem: HandleProblem,
    message: string,
  ) {
    super(message);
    this.name = 'HandleRefused';
  }
}

/**
 * Opens a handle for this repository and run, or fails saying which of the likely causes it is, in
 * `word`s: the reading program's wording of a refusal (core has none of its own).
 */
export function openHandle(handle: string, binding: HandleBinding, word: HandleWording): HandleContents {
  const [, runId = '', repoHash, payload] = /^vek1\.(\d{1,20})\.([0-9a-f]{8})\.([A-Za-z0-9_-]+)$/.exec(handle) ?? [];
  const refuse = (problem: HandleProblem): HandleRefused =>
    new HandleRefused(problem, word(problem, { repository: binding.repository, runId: binding.runId, handleRunId: runId }));
  const sealed = Buffer.from(payload ?? '', 'base64url');
  if (sealed.length <= IV_BYTES + TAG_BYTES) throw refuse('cut-short');
  if (repoHash !== repositoryHash(binding.repository)) throw refuse('other-repository');
  if (runId !== binding.runId) throw refuse('other-run');
  try {
    const decipher = createDecipheriv('aes-256-gcm', encryptionKey(binding.adminKey), sealed.subarray(0, IV_BYTES));
    decipher.setAAD(associatedData(`${VERSION}.${runId}.${repoHash}`, binding.repository));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plaintext = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    const { k, i, e, d } = JSON.parse(plaintext.toString('utf8')) as Record<string, unknown>;
    if (typeof k !== 'string' || typeof i !== 'string' || typeof e !== 'string' || typeof d !== 'string') throw new Error('fields');
    return { apiKey: k, keyId: i, expiresAt: e, description: d };
  } catch {
    throw refuse('not-opened');
  }
}

/**
 * Opens a handle for `mode: use` and `mode: revoke` (and the broker's unwrap): the run key of this
 * repository and run, with its tag. `mask` gets the secret the moment it is decrypted, before anything
 * can print.
 */
export function openRunKey(
  handle: string,
  binding: HandleBinding,
  mask: (secret: string) => void,
  word: HandleWording,
): HandleContents & { tag: KeyTag } {
  const key = openHandle(handle, binding, word);
  mask(key.apiKey);
  const tag = parseTag(key.description);
  if (tag?.scope !== 'run' || !isTagOfRepository(tag, binding.repository) || tag.runId !== binding.runId) {
    throw new HandleRefused(
      'not-run-key',
      word('not-run-key', { repository: binding.repository, runId: binding.runId, handleRunId: tag?.runId ?? '' }),
    );
  }
  return { ...key, tag };
}
