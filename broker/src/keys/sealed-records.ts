/**
 * What the broker writes to its store and must trust when it reads it back: leases and mint intents are
 * signed (HMAC-SHA256), and a finished mint's answer, kept for an idempotent retry, is sealed (AES-256-GCM).
 * Both keys are derived (HKDF-SHA256) from the admin key, as the key handle's is (core/key-handle.ts),
 * so whoever can write to Redis but does not hold the admin key can neither forge a record that makes the
 * broker delete a key, nor read a secret. Written with node:crypto: a few lines, and the exact bytes matter.
 *
 *   signed record: v1.<hmac hex>.<JSON>     (the HMAC covers the kind and the JSON text, byte for byte)
 *   sealed answer: <base64url(iv ‖ ciphertext ‖ tag)>, bound to the repository and idempotency key
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

export interface RecordKeys {
  sign: Buffer;
  seal: Buffer;
}

export function recordKeys(adminKey: string): RecordKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', adminKey, 'venice-ephemeral-key', info, 32));
  return { sign: derive('broker records v1'), seal: derive('broker answers v1') };
}

export type RecordKind = 'lease' | 'intent';

function mac(keys: RecordKeys, kind: RecordKind, json: string): string {
  return createHmac('sha256', keys.sign).update(`${kind}\n${json}`).digest('hex');
}

export function signRecord(keys: RecordKeys, kind: RecordKind, body: object): string {
  const json = JSON.stringify(body);
  return `v1.${mac(keys, kind, json)}.${json}`;
}

/** The record's body when its signature is this broker's; undefined for anything else (forged, altered, torn). */
export function verifyRecord(keys: RecordKeys, kind: RecordKind, text: string): unknown {
  const match = /^v1\.([0-9a-f]{64})\.(\{.*\})$/s.exec(text);
  if (!match) return undefined;
  const [, given = '', json = ''] = match;
  const expected = mac(keys, kind, json);
  if (!timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(expected, 'hex'))) return undefined;
  // Signed: written by JSON.stringify with this broker's key, so it parses.
  return JSON.parse(json) as unknown;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function sealAnswer(keys: RecordKeys, answer: object, binding: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.seal, iv);
  cipher.setAAD(Buffer.from(binding));
  const sealed = Buffer.concat([iv, cipher.update(JSON.stringify(answer), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return sealed.toString('base64url');
}

/** The answer sealed for `binding`, or undefined when it does not open (altered, or another binding). */
export function openAnswer(keys: RecordKeys, sealedText: string, binding: string): Record<string, unknown> | undefined {
  const sealed = Buffer.from(sealedText, 'base64url');
  if (sealed.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.seal, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(binding));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const text = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    const answer = JSON.parse(text.toString('utf8')) as unknown;
    return typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
