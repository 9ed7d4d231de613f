// A Venice-compatible server for tests, the demo and the benchmark: the /api/v1/api_keys routes this
// action uses, with Venice's documented behaviour (../shared/venice/README.md): request bodies validated
// against Venice's contract (contract/venice-api-keys.json), 402 without a key, 401 for unknown keys and
// for inference keys on admin routes, 400 "API key could not be found" on delete, the creation limit (20
// per minute; Retry-After sent or not), the 500-key cap, expiry, the abuse guard, spend figures, and
// fault injection. Every 2xx body it sends is checked against the contract too. PATCH /api_keys updates
// a key as the spec describes (strict body, `id` required, an unknown id 400, the same field checks as a
// create). POST /chat/completions stands in for inference: it charges `INFERENCE_COST` USD to the
// calling key within its caps; past a cap (a cap of 0 at once) it answers 402 and charges nothing (the
// spec says a 0 cap spends nothing; the status is this server's choice). Loopback only.
// Time comes from `clock` so a test can run it on a virtual clock.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { closeServer, listenOnLoopback } from './loopback.ts';
import { loadVeniceSchemas, type VeniceSchemas } from './venice-spec.ts';

export type Call = 'create' | 'list' | 'get' | 'delete' | 'verify' | 'update' | 'inference';

/**
 * Faults a test can inject into the next matching request(s):
 * - status: answer with this HTTP status (Retry-After when given, Venice's error text or `error`);
 * - reset-before: drop the connection before acting; reset-after: act (create the key), then drop it;
 * - hang: act, then never answer (the client's timeout must fire);
 * - malformed: act, then answer 200 with a body that is not JSON;
 * - missing-fields: act, then answer 200 with `data` lacking its fields;
 * - delay: act, then answer normally after `ms`; act-late: wait `ms`, then act and answer (the key
 *   appears late, whether or not the client is still there);
 * - redirect: answer 307 to `location` without acting;
 * - huge-body: answer 200 with `bytes` of JSON-looking text, streamed, never held in memory;
 * - answer: answer 200 with `body` without acting (a test's own, e.g. `{ success: false }`), unchecked;
 * - patch-data: act, then answer with these fields of `data` replaced (an odd apiKey, id or date).
 */
export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; error?: string }
  | { kind: 'reset-before' | 'reset-after' | 'hang' | 'malformed' | 'missing-fields' }
  | { kind: 'delay' | 'act-late'; ms: number }
  | { kind: 'redirect'; location: string }
  | { kind: 'huge-body'; bytes: number }
  | { kind: 'answer'; body: unknown }
  | { kind: 'patch-data'; data: Record<string, unknown> };

export interface StoredKey {
  id: string;
  apiKey: string;
  apiKeyType: 'INFERENCE' | 'ADMIN';
  description: string;
  createdAt: string;
  expiresAt: string | null;
  consumptionLimit: { usd: number | null; diem: number | null };
  limitPeriod: string;
  modelPrivacy: string;
  /** What the key spent: trailing seven days, and in the current period. */
  usage: { usd: number; diem: number };
}

export interface RequestRecord {
  call: Call | 'other';
  method: string;
  path: string;
  status: number | 'dropped' | 'hung' | 'streamed';
  body?: unknown;
}

export interface VeniceServerOptions {
  /** The admin key the server accepts. Default: a fresh random one (see `adminKey`). */
  adminKey?: string;
  /** Creations allowed per window: Venice allows 20 per minute. */
  createLimit?: { count: number; windowMs: number };
  /** Whether a 429 carries Retry-After (Venice may leave it out). Default true. */
  retryAfterHeader?: boolean;
  maxActiveKeys?: number;
  port?: number;
  /** Serve https with this certificate, under `hostname` in `apiUrl`. */
  tls?: { key: string; cert: string; hostname: string };
  /** Milliseconds since the epoch; a virtual clock in the matrix test. */
  clock?: () => number;
}

const MAX_ACTIVE_KEYS = 500;
/** What one inference request costs the calling key, in USD. */
export const INFERENCE_COST = 0.01;
const ABUSE_LIMIT = 50; // failed requests in 30 s before Venice blocks the key
const ABUSE_WINDOW_MS = 30_000;

export class VeniceServer {
  readonly adminKey: string;
  readonly keys = new Map<string, StoredKey>();
  readonly requests: RequestRecord[] = [];
  /** Every key ever created through the API, deleted ones too: the secrets tests scan logs for. */
  readonly minted: StoredKey[] = [];
  /** Every create body that passed validation, as received. */
  readonly createBodies: unknown[] = [];
  /** Every update (PATCH) body that passed validation, as received. */
  readonly updateBodies: unknown[] = [];
  /** TCP connections accepted, and TLS handshakes completed (https only). */
  connections = 0;
  handshakes = 0;
  /** Set false to make rate_limits report accessPermitted: false (a key that cannot be used). */
  accessPermitted = true;
  url = '';
  private readonly faults: { call: Call; fault: Fault; times: number }[] = [];
  private readonly creations: number[] = [];
  private readonly failures = new Map<string, number[]>();
  private readonly createLimit: { count: number; windowMs: number };
  private readonly retryAfterHeader: boolean;
  private readonly maxActiveKeys: number;
  private readonly server: Server;
  private readonly hung = new Set<ServerResponse>();
  private readonly schemas: VeniceSchemas = loadVeniceSchemas();
  private readonly port: number;
  private readonly tls: VeniceServerOptions['tls'];
  private readonly waiters: { call: Call; done: () => void }[] = [];
  readonly clock: () => number;

  constructor(options: VeniceServerOptions = {}) {
    this.adminKey = options.adminKey ?? `VENICE_ADMIN_KEY_${randomBytes(18).toString('base64url')}`;
    this.createLimit = options.createLimit ?? { count: 20, windowMs: 60_000 };
    this.retryAfterHeader = options.retryAfterHeader ?? true;
    this.maxActiveKeys = options.maxActiveKeys ?? MAX_ACTIVE_KEYS;
    this.port = options.port ?? 0;
    this.tls = options.tls;
    this.clock = options.clock ?? Date.now;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((error: unknown) => {
        process.stderr.write(`venice-server: ${String(error)}\n`);
        if (!res.headersSent) this.send(res, 500, { error: 'An unknown error occurred' });
      });
    };
    this.server = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, handler) : createServer(handler);
    this.server.on('connection', () => this.connections++);
    this.server.on('secureConnection', () => this.handshakes++);
  }

  /** The base URL to pass as `api-url`. */
  get apiUrl(): string {
    return `${this.url}/api/v1`;
  }

  async start(): Promise<this> {
    const port = await listenOnLoopback(this.server, this.port);
    this.url = this.tls ? `https://${this.tls.hostname}:${port}` : `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    await closeServer(this.server);
  }

  /** Resolves when the next request for `call` arrives (before the server acts on it). */
  nextRequest(call: Call): Promise<void> {
    return new Promise((done) => this.waiters.push({ call, done }));
  }

  inject(call: Call, fault: Fault, times = 1): void {
    this.faults.push({ call, fault, times });
  }

  /** Keys that exist and have not expired, as Venice lists them. */
  liveKeys(now = this.clock()): StoredKey[] {
    return [...this.keys.values()].filter((key) => key.expiresAt === null || Date.parse(key.expiresAt) > now);
  }

  /** Adds a key directly (an admin key, another repository's key, a hand-made one), returning it. */
  addKey(fields: Partial<StoredKey> & { description: string }): StoredKey {
    const now = this.clock();
    const key: StoredKey = {
      id: randomUUID(),
      apiKey: `VENICE_INFERENCE_KEY_${randomBytes(24).toString('base64url')}`,
      apiKeyType: 'INFERENCE',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
      consumptionLimit: { usd: 1, diem: 1 },
      limitPeriod: 'EPOCH',
      modelPrivacy: 'ALL',
      usage: { usd: 0, diem: 0 },
      ...fields,
    };
    this.keys.set(key.id, key);
    return key;
  }

  count(call: Call): number {
    return this.requests.filter((r) => r.call === call).length;
  }

  /** Failed (4xx other than 429) requests, which Venice counts towards blocking a key. */
  failedRequests(): number {
    return this.requests.filter((r) => typeof r.status === 'number' && r.status >= 400 && r.status < 500 && r.status !== 429).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const raw = await readBody(req);
    const route = routeOf(req.method ?? '', url.pathname);
    const call = route?.call;
    const record: RequestRecord = { call: call ?? 'other', method: req.method ?? '', path: url.pathname, status: 0 };
    this.requests.push(record);
    res.on('finish', () => {
      if (record.status === 0) record.status = res.statusCode;
    });
    if (!call) return this.send(res, 404, { error: 'Not found' });
    for (const waiter of this.waiters.filter((w) => w.call === call)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.done();
    }

    const fault = this.takeFault(call);
    if (fault?.kind === 'reset-before') return this.drop(res, record);
    if (fault?.kind === 'redirect') {
      res.writeHead(307, { location: fault.location });
      return void res.end();
    }
    if (fault?.kind === 'status') {
      if (fault.retryAfter !== undefined) res.setHeader('retry-after', fault.retryAfter);
      const error = fault.error ?? (fault.status === 429 ? 'Rate limit exceeded' : 'An unknown error occurred');
      return this.send(res, fault.status, { error });
    }
    if (fault?.kind === 'huge-body') return this.stream(res, record, fault.bytes);
    if (fault?.kind === 'answer') return this.send(res, 200, fault.body);
    if (fault?.kind === 'act-late') await new Promise((done) => setTimeout(done, fault.ms));

    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) return this.send(res, 402, { error: 'Payment required', x402: { accepts: [] } });
    if (this.isBlocked(bearer)) return this.send(res, 429, { error: 'Too many failed requests; try again later' });
    const caller = bearer === this.adminKey ? 'admin' : this.findLiveKey(bearer) ? 'inference' : undefined;
    if (!caller) return this.fail(res, bearer, 401, { error: 'Authentication failed' });
    if (call !== 'verify' && call !== 'inference' && caller !== 'admin') {
      return this.fail(res, bearer, 401, { error: 'Admin API key required' });
    }

    // The route acts; a fault may then spoil the answer (the key exists either way).
    const answer = this.act(call, url, raw, bearer, route?.id);
    if (answer.status >= 400) return this.fail(res, bearer, answer.status, answer.body, answer.headers);
    if (fault?.kind === 'reset-after') return this.drop(res, record);
    if (fault?.kind === 'hang') {
      record.status = 'hung';
      this.hung.add(res);
      return;
    }
    if (fault?.kind === 'malformed') return this.sendRaw(res, 200, '{"data": {"id": ');
    if (fault?.kind === 'missing-fields') return this.send(res, 200, { success: true, data: {} });
    if (fault?.kind === 'patch-data') {
      const body = answer.body as { data: Record<string, unknown> };
      return this.send(res, 200, { ...body, data: { ...body.data, ...fault.data } });
    }
    this.checkAgainstContract(call, answer.body);
    if (fault?.kind === 'delay') await new Promise((done) => setTimeout(done, fault.ms));
    return this.send(res, answer.status, answer.body);
  }

  private act(
    call: Call,
    url: URL,
    raw: string,
    bearer: string,
    id: string | undefined,
  ): { status: number; body: unknown; headers?: Record<string, string> } {
    const now = this.clock();
    if (call === 'create') return this.create(raw, now);
    if (call === 'update') return this.update(raw, now);
    if (call === 'inference') return this.infer(bearer);
    if (call === 'list') {
      // Newest first, as Venice lists them; never the secret.
      const data = this.liveKeys(now)
        .reverse()
        .map((key) => {
          const { usage: _usage, ...details } = this.details(key);
          return {
            ...details,
            usage: { trailingSevenDays: { usd: key.usage.usd.toFixed(4), vcu: '0.0000', diem: key.usage.diem.toFixed(4) } },
          };
        });
      return { status: 200, body: { object: 'list', data } };
    }
    if (call === 'get') {
      const key = id === undefined ? undefined : this.keys.get(id);
      if (!key || (key.expiresAt !== null && Date.parse(key.expiresAt) <= now))
        return { status: 400, body: { error: 'API key not found' } };
      return { status: 200, body: { data: this.details(key) } };
    }
    if (call === 'delete') {
      const keyId = url.searchParams.get('id');
      if (!keyId) return { status: 400, body: { error: 'Invalid request parameters', details: { id: { _errors: ['Required'] } } } };
      if (!this.keys.delete(keyId)) return { status: 400, body: { error: 'API key could not be found' } };
      return { status: 200, body: { success: true } };
    }
    const key = this.findLiveKey(bearer);
    return {
      status: 200,
      body: {
        data: {
          accessPermitted: bearer === this.adminKey || this.accessPermitted,
          apiTier: { id: 'paid', isCharged: true },
          balances: { USD: 10, DIEM: 1 },
          keyExpiration: key?.expiresAt ?? null,
          nextEpochBegins: new Date(Math.ceil(now / 86_400_000) * 86_400_000).toISOString(),
          rateLimits: [],
        },
      },
    };
  }

  private create(raw: string, now: number): { status: number; body: unknown; headers?: Record<string, string> } {
    const body = parseJson(raw);
    if (!this.schemas.createRequest(body)) {
      return { status: 400, body: { error: 'Invalid request parameters', details: this.schemas.describe(this.schemas.createRequest) } };
    }
    const recent = this.creations.filter((t) => t > now - this.createLimit.windowMs);
    this.creations.splice(0, this.creations.length, ...recent);
    if (recent.length >= this.createLimit.count) {
      const retryAfter = Math.max(1, Math.ceil(((recent[0] ?? now) + this.createLimit.windowMs - now) / 1000));
      return {
        status: 429,
        body: { error: 'Rate limit exceeded' },
        headers: this.retryAfterHeader ? { 'retry-after': String(retryAfter) } : {},
      };
    }
    if (this.liveKeys(now).length >= this.maxActiveKeys) {
      return { status: 400, body: { error: `You have reached the maximum number of API keys (${this.maxActiveKeys})` } };
    }
    this.creations.push(now);
    this.createBodies.push(body);
    const request = body as {
      apiKeyType: 'INFERENCE' | 'ADMIN';
      description: string;
      expiresAt?: string;
      consumptionLimit?: { usd?: number | null; diem?: number | null };
      limitPeriod?: string;
      modelPrivacy?: string;
    };
    const key = this.addKey({
      apiKeyType: request.apiKeyType,
      apiKey: `VENICE_${request.apiKeyType}_KEY_${randomBytes(24).toString('base64url')}`,
      description: request.description,
      expiresAt: request.expiresAt ? new Date(request.expiresAt).toISOString() : null,
      consumptionLimit: { usd: request.consumptionLimit?.usd ?? null, diem: request.consumptionLimit?.diem ?? null },
      limitPeriod: request.limitPeriod ?? 'EPOCH',
      modelPrivacy: request.modelPrivacy ?? 'ALL',
    });
    this.minted.push(key);
    const { createdAt: _created, usage: _usage, consumptionLimit, ...data } = key;
    return { status: 200, body: { success: true, data: { ...data, consumptionLimit } } };
  }

  /** PATCH /api_keys: the named key's description, expiry, caps, period and privacy, as asked. */
  private update(raw: string, now: number): { status: number; body: unknown } {
    const body = parseJson(raw);
    if (!this.schemas.updateRequest(body)) {
      return { status: 400, body: { error: 'Invalid request parameters', details: this.schemas.describe(this.schemas.updateRequest) } };
    }
    const request = body as {
      id: string;
      description?: string;
      expiresAt?: string | null;
      consumptionLimit?: { usd?: number | null; diem?: number | null };
      limitPeriod?: string;
      modelPrivacy?: string;
    };
    const key = this.keys.get(request.id);
    if (!key || (key.expiresAt !== null && Date.parse(key.expiresAt) <= now)) return { status: 400, body: { error: 'API key not found' } };
    this.updateBodies.push(body);
    if (request.description !== undefined) key.description = request.description;
    if (request.expiresAt !== undefined) key.expiresAt = request.expiresAt ? new Date(request.expiresAt).toISOString() : null;
    const limit = request.consumptionLimit;
    if (limit?.usd !== undefined) key.consumptionLimit.usd = limit.usd;
    if (limit?.diem !== undefined) key.consumptionLimit.diem = limit.diem;
    if (request.limitPeriod !== undefined) key.limitPeriod = request.limitPeriod;
    if (request.modelPrivacy !== undefined) key.modelPrivacy = request.modelPrivacy;
    const { usage: _usage, currentPeriodUsage: _period, ...data } = this.details(key);
    return { status: 200, body: { success: true, data } };
  }

  /** An inference request by `bearer`: charged within the key's caps, refused (402, nothing charged) past one. */
  private infer(bearer: string): { status: number; body: unknown } {
    const key = this.findLiveKey(bearer) as StoredKey;
    const { usd } = key.consumptionLimit;
    if (usd !== null && key.usage.usd + INFERENCE_COST > usd) {
      return { status: 402, body: { error: 'Consumption limit reached for this API key' } };
    }
    key.usage.usd += INFERENCE_COST;
    return { status: 200, body: { id: randomUUID(), object: 'chat.completion', choices: [] } };
  }

  /** A key as GET /api_keys/{id} shows it: never the secret; usage as strings. */
  private details(key: StoredKey): Record<string, unknown> {
    const capped = key.consumptionLimit.usd !== null || key.consumptionLimit.diem !== null;
    return {
      id: key.id,
      apiKeyType: key.apiKeyType,
      description: key.description,
      createdAt: key.createdAt,
      expiresAt: key.expiresAt,
      last6Chars: key.apiKey.slice(-6),
      lastUsedAt: null,
      consumptionLimits: key.consumptionLimit,
      limitPeriod: key.limitPeriod,
      modelPrivacy: key.modelPrivacy,
      usage: { trailingSevenDays: { usd: key.usage.usd.toFixed(4), vcu: '0.0000', diem: key.usage.diem.toFixed(4) } },
      ...(capped ? { currentPeriodUsage: { usd: key.usage.usd.toFixed(4), diem: key.usage.diem.toFixed(4) } } : {}),
    };
  }

  private findLiveKey(secret: string): StoredKey | undefined {
    return this.liveKeys().find((key) => key.apiKey === secret);
  }

  private takeFault(call: Call): Fault | undefined {
    const index = this.faults.findIndex((f) => f.call === call);
    if (index < 0) return undefined;
    const entry = this.faults[index]!;
    if (--entry.times <= 0) this.faults.splice(index, 1);
    return entry.fault;
  }

  private checkAgainstContract(call: Call, body: unknown): void {
    const validate = {
      create: this.schemas.createResponse,
      list: this.schemas.listResponse,
      get: this.schemas.getResponse,
      delete: this.schemas.deleteResponse,
      verify: this.schemas.rateLimitsResponse,
      update: this.schemas.updateResponse,
      inference: undefined,
    }[call];
    if (!validate) return;
    if (!validate(body)) throw new Error(`test server answer to ${call} does not fit the contract: ${this.schemas.describe(validate)}`);
  }

  private isBlocked(bearer: string): boolean {
    const recent = (this.failures.get(bearer) ?? []).filter((t) => t > this.clock() - ABUSE_WINDOW_MS);
    this.failures.set(bearer, recent);
    return recent.length > ABUSE_LIMIT;
  }

  private fail(res: ServerResponse, bearer: string, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (status !== 429) this.failures.set(bearer, [...(this.failures.get(bearer) ?? []), this.clock()]);
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    this.send(res, status, body);
  }

  private drop(res: ServerResponse, record: RequestRecord): void {
    record.status = 'dropped';
    res.socket?.resetAndDestroy();
  }

  /** Writes `bytes` of a never-ending JSON string, a chunk at a time, stopping when the client goes. */
  private stream(res: ServerResponse, record: RequestRecord, bytes: number): void {
    record.status = 'streamed';
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(sent === chunk.length ? Buffer.from(`{"data":"${'a'.repeat(chunk.length - 9)}`) : chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end('"}');
    };
    res.on('close', () => res.destroy());
    pump();
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    this.sendRaw(res, status, JSON.stringify(body));
  }

  private sendRaw(res: ServerResponse, status: number, text: string): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text);
  }
}

function routeOf(method: string, path: string): { call: Call; id?: string } | undefined {
  if (path === '/api/v1/api_keys') {
    const call = ({ POST: 'create', GET: 'list', DELETE: 'delete', PATCH: 'update' } as const)[method as 'POST'];
    return call ? { call } : undefined;
  }
  if (path === '/api/v1/chat/completions') return method === 'POST' ? { call: 'inference' } : undefined;
  if (path === '/api/v1/api_keys/rate_limits') return method === 'GET' ? { call: 'verify' } : undefined;
  const one = /^\/api\/v1\/api_keys\/([^/]+)$/.exec(path);
  if (one && method === 'GET') return { call: 'get', id: decodeURIComponent(one[1] ?? '') };
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((done, failed) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
    req.on('error', failed);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
