/**
 * The action's side of the key broker (broker/): mint, delete and unwrap, each sent with a fresh OIDC
 * token from the runner. Answers are validated like Venice's: a key is masked the moment it arrives,
 * before anything else is read, and only trusted once its id, secret, date and tag look right. The
 * broker's refusals are explained for the person reading the log: 401 (the token: audience, issuer,
 * permissions), 403 (policy or ownership), 429 (the broker's queue is full: waited out like Venice's).
 *
 * Within the step's `timeout`, a request that got no answer (a replica killed mid-request, a dropped
 * connection), a 429, a 503 (a broker draining for a deploy, its store out of reach, Venice failing) and
 * a load balancer's 502/503/504 are tried again, after the Retry-After given. A mint too, with the same
 * Idempotency-Key: a retry after a lost answer gets the same key back, and a 409 (the first attempt is
 * still in progress) is waited out like a 429.
 * The broker's own 502 (Venice refused the request) is final: trying again cannot change Venice's mind.
 */
import { randomUUID } from 'node:crypto';
import {
  type DeleteAnswer,
  type KeysAnswer,
  type MintAnswer,
  type OwnedKeyAnswer,
  type RevokeAnswer,
  readGranted,
  type SweepAnswer,
  type Unchecked,
  type UnwrapAnswer,
} from '../../../core/broker-api.js';
import type { Deadline } from '../../../core/deadline.js';
import type { DeletedKeys, OwnedKey, Spent } from '../../../core/delete-keys.js';
import { isTagOfRepository, type KeyTag, parseTag } from '../../../core/description-tag.js';
import { ActionFailure, messageOf } from '../../../core/errors.js';
import type { HttpTransport } from '../../../core/http.js';
import { type HandleContents, isKeyHandle } from '../../../core/key-handle.js';
import { isKeyId } from '../../../core/ownership.js';
import { type RetryableFailure, type RetryPolicy, withRetries } from '../../../core/retry.js';
import { safeText } from '../../../core/safe-text.js';
import { isApiKey, isoDate, type MintedKey } from '../../../core/venice-api.js';
import { retryAfterMs } from '../../../core/venice-errors.js';

export interface BrokerClientOptions {
  brokerUrl: string;
  transport: HttpTransport;
  deadline: Deadline;
  policy: RetryPolicy;
  log: (message: string) => void;
  /** A fresh OIDC token for each request (they are short-lived). */
  idToken: () => Promise<string>;
  mask: (secret: string) => void;
  repository: string;
  runId: string;
  signal?: AbortSignal | undefined;
}

export interface BrokerMinted extends MintedKey {
  tag: KeyTag;
  handle: string | undefined;
  rule: string;
  /** What the broker lowered to its policy's ceilings, as it says it (untrusted text). */
  clamped: string[];
  /** The caps the answer says were granted (each one missing or malformed is left out). */
  granted: ReturnType<typeof readGranted>;
  /** With rotate: the older keys of the slot the broker deleted (undefined: it could not rotate). */
  rotated: string[] | undefined;
}

/** What revoke and sweep through the broker did: the keys concerned, and what was deleted. */
export interface BrokerDeleted {
  keys: OwnedKey[];
  deleted: DeletedKeys;
}

/** A failed request to the broker: its status (none: no answer), and whether and when to try again. */
export class BrokerError extends ActionFailure implements RetryableFailure {
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly rateLimited: boolean;
  readonly retryAfterMs: number | undefined;
  readonly summary: string;
  readonly waitReason: string | undefined;

  constructor(
    message: string,
    details: {
      status?: number | undefined;
      retryable?: boolean;
      rateLimited?: boolean;
      retryAfterMs?: number | undefined;
      /** For the log and a final timeout: the broker's own reason, or why nothing answered. */
      summary?: string;
      /** Why the wait (a 429 or 409), for the log. */
      waitReason?: string;
    } = {},
  ) {
    super(message);
    this.name = 'BrokerError';
    this.status = details.status;
    this.retryable = details.retryable ?? false;
    this.rateLimited = details.rateLimited ?? false;
    this.retryAfterMs = details.retryAfterMs;
    this.summary = details.summary ?? (details.status === undefined ? 'no answer' : `HTTP ${details.status}`);
    this.waitReason = details.waitReason;
  }
}

export class BrokerClient {
  constructor(private readonly options: BrokerClientOptions) {}

  /** POST /v1/keys with the key inputs as the broker expects them (the action's own names and syntax). */
  async mint(fields: Record<string, string>, { rotate = false } = {}): Promise<BrokerMinted> {
    // Retried after a request that got no answer too: a key the lost attempt made was never handed out,
    // and the broker deletes it (its caller hung up, or its mint journal finds it after a crash).
    // One Idempotency-Key for this step's mint, the same on every retry: a retry after a lost answer
    // gets the same key back (the broker keeps it 10 minutes), never a second one.
    const json = await this.send('POST', '/v1/keys', 'minting the key', rotate ? { ...fields, rotate: true } : fields, randomUUID());
    const data = json as Unchecked<MintAnswer>;
    if (isApiKey(data.apiKey)) this.options.mask(data.apiKey); // before anything else is read or printed
    const tag = parseTag(typeof data.description === 'string' ? data.description : '');
    const expiresAt = isoDate(data.expiresAt);
    const handle = data.handle;
    if (
      !isKeyId(data.id) ||
      !isApiKey(data.apiKey) ||
      !tag ||
      !isTagOfRepository(tag, this.options.repository) ||
      tag.runId !== this.options.runId ||
      expiresAt === undefined ||
      (handle !== undefined && !isKeyHandle(handle))
    ) {
      if (isKeyId(data.id)) await this.deleteKey(data.id).catch(() => undefined);
      throw new ActionFailure(
        "the broker's answer to the mint is not a key for this repository and run (id, secret, tag or expiry); nothing from it is used. Check that broker-url points at a venice-key-broker.",
      );
    }
    return {
      id: data.id,
      apiKey: data.apiKey,
      description: data.description as string,
      expiresAt,
      tag,
      handle: handle as string | undefined,
      rule: typeof data.rule === 'string' ? data.rule : '',
      granted: readGranted(data.granted),
      clamped: Array.isArray(data.clamped) ? data.clamped.filter((item): item is string => typeof item === 'string').slice(0, 10) : [],
      rotated: !rotate || data.rotateFailed === true ? undefined : idsOf(data.rotated),
    };
  }

  /** POST /v1/keys/revoke: every key of the PR (the token's, or `pr` for a merged PR's closing run). */
  async revokePr(pr: number | undefined, dryRun: boolean): Promise<BrokerDeleted> {
    const json = (await this.send('POST', '/v1/keys/revoke', `revoking the keys of PR #${pr ?? '?'}`, {
      ...(pr === undefined ? {} : { 'pr-number': pr }),
      'dry-run': dryRun,
    })) as Unchecked<RevokeAnswer>;
    const spent = json.spent as Unchecked<RevokeAnswer['spent']> | undefined;
    return {
      keys: this.ownedKeysOf(json.keys),
      deleted: {
        ids: idsOf(json.deletedIds),
        spent: { usd: amountOf(spent?.usd), diem: amountOf(spent?.diem) },
        unread: typeof json.unread === 'number' ? json.unread : 0,
      },
    };
  }

  /** GET /v1/keys: this repository's keys (never a secret), for sweep to ask GitHub about. */
  async listKeys(): Promise<OwnedKey[]> {
    const json = (await this.send('GET', '/v1/keys', "listing this repository's keys")) as Unchecked<KeysAnswer>;
    return this.ownedKeysOf(json.keys);
  }

  /** POST /v1/keys/sweep: the broker deletes those of `ids` that are this repository's (never a kept key). */
  async sweep(keys: OwnedKey[], dryRun: boolean): Promise<BrokerDeleted> {
    const json = (await this.send('POST', '/v1/keys/sweep', 'deleting the keys nobody else will', {
      ids: keys.map((key) => key.id),
      'dry-run': dryRun,
    })) as Unchecked<SweepAnswer>;
    return { keys: this.ownedKeysOf(json.keys), deleted: { ids: idsOf(json.deletedIds), spent: { usd: 0, diem: 0 }, unread: 0 } };
  }

  /** The broker's key list, trusted only where each key's own description carries this repository's tag. */
  private ownedKeysOf(value: unknown): OwnedKey[] {
    // Anything that is not a list of this repository's keys counts as no keys: nothing is deleted for it.
    return (Array.isArray(value) ? value : []).flatMap((entry) => {
      const key = entry as Unchecked<OwnedKeyAnswer>;
      const tag = parseTag(typeof key.description === 'string' ? key.description : '');
      const expiresAt = key.expiresAt === null ? null : isoDate(key.expiresAt);
      if (!isKeyId(key.id) || !tag || !isTagOfRepository(tag, this.options.repository) || expiresAt === undefined) return [];
      return [
        {
          id: key.id,
          description: key.description as string,
          expiresAt,
          createdAt: isoDate(key.createdAt) ?? null,
          apiKeyType: 'INFERENCE',
          tag,
        },
      ];
    });
  }

  /** DELETE /v1/keys/{id}: what the broker did, and what the key spent when it could read it. */
  async deleteKey(id: string): Promise<{ outcome: 'deleted' | 'already-gone'; spent: Spent | undefined }> {
    const json = (await this.send('DELETE', `/v1/keys/${encodeURIComponent(id)}`, 'deleting the key')) as Unchecked<DeleteAnswer>;
    const spent = json.spent as Unchecked<NonNullable<DeleteAnswer['spent']>> | undefined;
    return {
      outcome: json.outcome === 'already-gone' ? 'already-gone' : 'deleted',
      spent: spent && typeof spent.usd === 'number' && typeof spent.diem === 'number' ? { usd: spent.usd, diem: spent.diem } : undefined,
    };
  }

  /** POST /v1/keys/unwrap: the run's key from its handle (the broker holds the handle's key). */
  async unwrap(handle: string): Promise<HandleContents & { tag: KeyTag }> {
    const data = (await this.send('POST', '/v1/keys/unwrap', "opening the run's key-handle", { handle })) as Unchecked<UnwrapAnswer>;
    if (isApiKey(data.apiKey)) this.options.mask(data.apiKey);
    const tag = parseTag(typeof data.description === 'string' ? data.description : '');
    const expiresAt = isoDate(data.expiresAt);
    if (
      !isKeyId(data.id) ||
      !isApiKey(data.apiKey) ||
      tag?.scope !== 'run' ||
      tag.runId !== this.options.runId ||
      !isTagOfRepository(tag, this.options.repository) ||
      !expiresAt
    ) {
      throw new ActionFailure("the broker's answer is not this run's key (id, secret, tag or expiry); nothing from it is used.");
    }
    return { apiKey: data.apiKey, keyId: data.id, expiresAt, description: data.description as string, tag };
  }

  private async send(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    doing: string,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<unknown> {
    const { deadline } = this.options;
    return withRetries(
      doing,
      async () => {
        const remaining = deadline.remainingMs();
        if (remaining <= 0) throw deadline.exceeded(doing);
        const token = await this.options.idToken();
        let response: Awaited<ReturnType<HttpTransport['send']>>;
        try {
          response = await this.options.transport.send({
            method,
            url: new URL(this.options.brokerUrl + path),
            headers: {
              authorization: `Bearer ${token}`,
              accept: 'application/json',
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
              ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
            timeoutMs: remaining,
            signal: this.options.signal,
          });
        } catch (error) {
          // Every request is tried again, a mint too: a key a lost attempt made is the broker's to delete. A
          // refused connection too: a broker mid-deploy refuses for a moment. Should it last, the timeout's
          // message names broker-url.
          throw new BrokerError(`the broker did not answer while ${doing} (${messageOf(error)}).`, {
            retryable: true,
            summary: `no answer from broker-url ${this.options.brokerUrl} (${messageOf(error)}); check that broker-url is the broker's address and that it is running`,
          });
        }
        let json: unknown;
        try {
          json = JSON.parse(response.text);
        } catch {}
        if (response.status >= 200 && response.status < 300 && typeof json === 'object' && json !== null) return json;
        throw explain(response.status, json, doing, retryAfterMs(response.headers));
      },
      { policy: this.options.policy, deadline, log: this.options.log, signal: this.options.signal },
    );
  }
}

function explain(status: number, json: unknown, doing: string, retryAfter: number | undefined): BrokerError {
  const error = (json as { error?: unknown } | undefined)?.error;
  const reason = typeof error === 'string' && error !== '' ? safeText(error.slice(0, 300)) : '';
  const said = reason ? ` The broker said: "${reason}".` : '';
  const summary = reason ? `HTTP ${status}, the broker said: "${reason}"` : `HTTP ${status}`;
  if (status === 401) {
    return new BrokerError(
      `the broker refused this job's OIDC token (401) while ${doing}.${said} Check that broker-audience equals the broker's oidc.audience, ` +
        "and, on GitHub Enterprise Server, that the broker's oidc.issuer is your server's.",
      { status },
    );
  }
  if (status === 403) return new BrokerError(`the broker's policy refused ${doing} (403).${said}`, { status });
  if (status === 409) {
    // The same mint (its Idempotency-Key) is still in progress at the broker: wait, and ask again.
    return new BrokerError(`the broker is still working on this mint (409) while ${doing}.${said}`, {
      status,
      summary,
      retryable: true,
      rateLimited: true,
      waitReason: 'the broker is still minting this key (an earlier attempt)',
      retryAfterMs: retryAfter,
    });
  }
  if (status === 429) {
    return new BrokerError(`the broker's create queue is full (429) while ${doing}.${said}`, {
      status,
      summary,
      retryable: true,
      rateLimited: true,
      waitReason: "the broker's queue is full",
      retryAfterMs: retryAfter,
    });
  }
  if (status === 400 || status === 413)
    return new BrokerError(`the broker rejected the request while ${doing} (${status}).${said}`, { status });
  // 503: the broker is draining, its store or the issuer's keys are out of reach, Venice is failing or at
  // its active-key limit; nothing was made.
  if (status === 503)
    return new BrokerError(`the broker is not able to serve ${doing} right now (503).${said}`, {
      status,
      summary,
      retryable: true,
      retryAfterMs: retryAfter,
    });
  // A 502 the broker wrote (a JSON error) is Venice's refusal: final. A 5xx without one came from a load
  // balancer or proxy in front of it (a replica gone mid-request): another replica may answer.
  const fromBroker = typeof error === 'string';
  return new BrokerError(`${doing} through the broker failed with HTTP ${status}.${said}`, {
    status,
    summary,
    retryable: status >= 500 && !(status === 502 && fromBroker),
  });
}

/** Key ids from an answer: only those that look like Venice's. */
function idsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((id): id is string => isKeyId(id)).slice(0, 500) : [];
}

function amountOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}
