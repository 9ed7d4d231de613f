/**
 * Who is asking: the caller's GitHub Actions OIDC token, verified with jose against the issuer's keys
 * (issuer-keys.ts: fetched at start, refreshed single-flight with a cooldown, kept through an outage).
 * The algorithm is checked against an allow-list from the header before any key is looked up (so
 * `alg: none` never gets further), then the signature, the issuer, the audience, exp/nbf/iat with a
 * small tolerance, and the claims the broker relies on, in GitHub's formats: the repository and owner
 * names and their immutable ids, and a repository that lies under its owner. A refusal names the claim
 * that failed and what was expected, never the token or its values.
 */
import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { BrokerConfig } from './config.js';
import { type IssuerKeys, KeysUnavailable } from './issuer-keys.js';

/** The claims the broker relies on, checked to be what GitHub writes. */
export interface CallerClaims extends JWTPayload {
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  run_id: string;
  run_attempt: string;
  ref?: string;
  event_name?: string;
  environment?: string;
  job_workflow_ref?: string;
  actor?: string;
}

/** A token that does not prove who is calling: 401, or 503 when the issuer's keys are not at hand. */
export class CallerRefused extends Error {
  constructor(
    readonly status: 401 | 503,
    reason: string,
    /** The claim or check that failed, for the aggregate refusal counts: "exp", "signature", "no-token"… */
    readonly kind: string,
    readonly retryAfterMs?: number,
  ) {
    super(reason);
    this.name = 'CallerRefused';
  }
}

export type VerifyCaller = (authorization: string | undefined) => Promise<CallerClaims>;

const ID = /^[1-9]\d{0,15}$/;
const CLAIM_FORMATS: Record<string, RegExp> = {
  repository: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  repository_id: ID,
  repository_owner: /^[A-Za-z0-9_.-]+$/,
  repository_owner_id: ID,
  run_id: /^[1-9]\d{0,12}$/,
  run_attempt: /^[1-9]\d{0,2}$/,
};

export function callerVerifier(oidc: BrokerConfig['oidc'], keys: IssuerKeys, now: () => number): VerifyCaller {
  return async (authorization) => {
    const token = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(authorization ?? '')?.[1];
    if (!token) {
      throw new CallerRefused(
        401,
        'no token: send the job\'s GitHub OIDC token as "Authorization: Bearer <token>" (the job needs permissions: id-token: write).',
        'no-token',
      );
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new CallerRefused(401, 'the token is not a JWT.', 'not-jwt');
    }
    if (typeof alg !== 'string' || !(oidc.algorithms as string[]).includes(alg)) {
      throw new CallerRefused(401, `"alg": the token's algorithm is not allowed (allowed: ${oidc.algorithms.join(', ')}).`, 'alg');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys.getKey, {
        issuer: oidc.issuer,
        audience: oidc.audience,
        algorithms: oidc.algorithms,
        clockTolerance: Math.round(oidc.clockToleranceMs / 1000),
        maxTokenAge: Math.round(oidc.maxTokenAgeMs / 1000),
        requiredClaims: ['exp', 'iat'],
        currentDate: new Date(now()),
      }));
    } catch (error) {
      throw refusal(error, oidc);
    }
    for (const [claim, format] of Object.entries(CLAIM_FORMATS)) {
      const value = payload[claim];
      if (typeof value !== 'string' || !format.test(value)) {
        throw new CallerRefused(
          401,
          `"${claim}": missing or not as GitHub writes it; only GitHub Actions OIDC tokens are accepted.`,
          claim,
        );
      }
    }
    const claims = payload as CallerClaims;
    if (!claims.repository.toLowerCase().startsWith(`${claims.repository_owner.toLowerCase()}/`)) {
      throw new CallerRefused(
        401,
        '"repository": not under "repository_owner"; only GitHub Actions OIDC tokens are accepted.',
        'repository',
      );
    }
    return claims;
  };
}

function refusal(error: unknown, oidc: BrokerConfig['oidc']): CallerRefused {
  if (error instanceof KeysUnavailable) {
    // Not the caller's fault: the keys could not be fetched. A 503, so the caller may retry.
    return new CallerRefused(
      503,
      `the issuer's keys could not be fetched from ${oidc.jwksUrl}; try again shortly.`,
      'jwks',
      error.retryAfterMs,
    );
  }
  const maxAge = `${Math.round(oidc.maxTokenAgeMs / 1000)}s`;
  if (error instanceof errors.JWTExpired && error.claim === 'iat') {
    return new CallerRefused(401, `"iat": the token was issued more than ${maxAge} ago; request a new one just before calling.`, 'iat');
  }
  if (error instanceof errors.JWTExpired) {
    return new CallerRefused(401, '"exp": the token has expired; request a new one just before calling.', 'exp');
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const expected: Record<string, string> = {
      iss: `the issuer must be ${oidc.issuer}`,
      aud: `the audience must include ${oidc.audience}; request the token with that audience (broker-audience)`,
      nbf: 'the token is not valid yet',
      iat: `the token must be issued in the past and at most ${maxAge} ago`,
    };
    // jose names the claim (one of the registered ones it checks): never a value from the token.
    return new CallerRefused(401, `"${error.claim}": ${expected[error.claim] ?? 'the claim is missing or not valid'}.`, error.claim);
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new CallerRefused(401, `"kid": the token was signed with a key the issuer does not publish at ${oidc.jwksUrl}.`, 'kid');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new CallerRefused(401, "signature: the token's signature does not verify with the issuer's key.", 'signature');
  }
  return new CallerRefused(401, 'the token is not a valid JWT.', 'not-jwt');
}
