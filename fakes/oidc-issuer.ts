// GitHub's OIDC side, on loopback: an issuer with its own RS256 key pair made at test time (jose), its
// JWKS served over HTTP at /.well-known/jwks, and the runner's ID-token endpoint: a step given
// `jobEnv(claims)` finds ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN as the runner sets them, and
// `GET <url>&audience=<aud>` with that bearer answers `{ "value": "<JWT>" }` for that job's claims.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { closeServer, listenOnLoopback } from './loopback.ts';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface SigningKey {
  kid: string;
  privateKey: PrivateKey;
  jwk: JWK;
}

/**
 * A stable numeric id for a test name, as GitHub gives each repository and owner one (the same name
 * always gets the same id here; a test that renames or re-registers a name passes its own id).
 */
export function idOf(name: string): string {
  let hash = 7;
  for (const char of name.toLowerCase()) hash = (hash * 31 + char.charCodeAt(0)) % 2_000_000_000;
  return String(hash + 1_000_000);
}

/** What GitHub puts in a job's token, for `repository` and `run_id`; the rest as a push to main. */
export function jobClaims(repository: string, runId: string, extra: Record<string, string> = {}): Record<string, string> {
  const owner = repository.split('/')[0] as string;
  return {
    sub: `repo:${repository}:ref:refs/heads/main`,
    repository,
    repository_id: idOf(repository),
    repository_owner: owner,
    repository_owner_id: idOf(owner),
    ref: 'refs/heads/main',
    event_name: 'push',
    job_workflow_ref: `${repository}/.github/workflows/ci.yml@refs/heads/main`,
    run_id: runId,
    run_attempt: '1',
    actor: 'octocat',
    ...extra,
  };
}

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export interface SignOptions {
  audience?: string;
  issuer?: string;
  key?: SigningKey;
  /** Seconds relative to the issuer's clock. */
  expiresIn?: number;
  notBeforeIn?: number;
  issuedIn?: number;
}

export class OidcIssuer {
  url = '';
  /** Keys whose public half is published in the JWKS; the first signs by default. */
  readonly published: SigningKey[] = [];
  jwksFetches = 0;
  /** While true, the JWKS endpoint answers 503 (an issuer outage). */
  jwksDown = false;
  tokensIssued: string[] = [];
  private readonly jobs = new Map<string, Record<string, string>>();
  private readonly server = createServer((req, res) => void this.handle(req, res));

  readonly audience: string;
  private readonly clock: () => number;

  // No parameter properties: Node runs this file as it is for npm run bench, and strips types only.
  constructor(audience: string, clock: () => number = Date.now) {
    this.audience = audience;
    this.clock = clock;
  }

  async start(): Promise<this> {
    this.published.push(await newSigningKey('key-1'));
    this.url = `http://127.0.0.1:${await listenOnLoopback(this.server)}`;
    return this;
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  /** The environment the runner gives a job with `id-token: write`, whose tokens carry `claims`. */
  jobEnv(claims: Record<string, string>): Record<string, string> {
    const requestToken = `runner-${randomBytes(12).toString('hex')}`;
    this.jobs.set(requestToken, claims);
    return { ACTIONS_ID_TOKEN_REQUEST_URL: `${this.url}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
  }

  /** A token as GitHub would sign it (tests bend one field at a time through `options`). */
  async sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
    const key = options.key ?? (this.published[0] as SigningKey);
    const now = Math.floor(this.clock() / 1000);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
      .setIssuer(options.issuer ?? this.url)
      .setAudience(options.audience ?? this.audience)
      .setIssuedAt(now + (options.issuedIn ?? 0))
      .setNotBefore(now + (options.notBeforeIn ?? 0))
      .setExpirationTime(now + (options.expiresIn ?? 300));
    const token = await jwt.sign(key.privateKey);
    this.tokensIssued.push(token);
    return token;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/jwks') {
      this.jwksFetches++;
      if (this.jwksDown) return send(503, { message: 'unavailable' });
      return send(200, { keys: this.published.map((key) => key.jwk) });
    }
    if (url.pathname === '/token') {
      const claims = this.jobs.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      if (!claims) return send(401, { message: 'bad request token' });
      return send(200, { value: await this.sign(claims, { audience: url.searchParams.get('audience') ?? '' }) });
    }
    send(404, { message: 'not found' });
  }
}
