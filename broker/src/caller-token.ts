/**
 * Who is asking: the caller's GitHub Actions OIDC token, verified with jose. The signature is checked
 * against the issuer's JWKS (fetched, cached, and fetched again when a token names a key id it does not
 * know), then the issuer, the audience, exp/nbf/iat with a small tolerance, and the algorithm against an
 * allow-list, read from the header before any key is looked up (so `alg: none` never gets further). A
 * refusal names the claim that failed and what was expected, never the token or its values.
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { BrokerConfig } from './config.js';

/** The claims the broker relies on, checked to be what GitHub writes. */
export interface CallerClaims extends JWTPayload {
  repository: string;
  repository_owner: string;
  run_id: string;
  run_attempt: string;
  ref?: string;
  event_name?: string;
  environment?: string;
  job_workflow_ref?: string;
  actor?: string;
}

/** A token that does not prove who is calling: 401, or 503 when the issuer's keys could not be fetched. */
export class CallerRefused extends Error {
  constructor(
    readonly status: 401 | 503,
    reason: string,
  ) {
    super(reason);
    this.name = 'CallerRefused';
  }
}

export type VerifyCaller = (authorization: string | undefined) => Promise<CallerClaims>;

const CLAIM_FORMATS: Record<string, RegExp> = {
  repository: /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  repository_owner: /^[A-Za-z0-9_.-]+$/,
  run_id: /^[1-9]\d{0,12}$/,
  run_attempt: /^[1-9]\d{0,2}$/,
};

export function callerVerifier(oidc: BrokerConfig['oidc'], now: () => number, cooldownMs = 30_000): VerifyCaller {
  const keys = createRemoteJWKSet(new URL(oidc.jwksUrl), { cooldownDuration: cooldownMs, timeoutDuration: 5_000 });
  return async (authorization) => {
    const token = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(authorization ?? '')?.[1];
    if (!token) {
      throw new CallerRefused(
        401,
        'no token: send the job\'s GitHub OIDC token as "Authorization: Bearer <token>" (the job needs permissions: id-token: write).',
      );
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new CallerRefused(401, 'the token is not a JWT.');
    }
    if (typeof alg !== 'string' || !oidc.algorithms.includes(alg)) {
      throw new CallerRefused(401, `"alg": the token's algorithm is not allowed (allowed: ${oidc.algorithms.join(', ')}).`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
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
        throw new CallerRefused(401, `"${claim}": missing or not as GitHub writes it; only GitHub Actions OIDC tokens are accepted.`);
      }
    }
    return payload as CallerClaims;
  };
}

function refusal(error: unknown, oidc: BrokerConfig['oidc']): CallerRefused {
  if (error instanceof errors.JWTExpired)
    return new CallerRefused(401, '"exp": the token has expired; request a new one just before calling.');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const expected: Record<string, string> = {
      iss: `the issuer must be ${oidc.issuer}`,
      aud: `the audience must include ${oidc.audience}; request the token with that audience (broker-audience)`,
      nbf: 'the token is not valid yet',
      iat: `the token must be issued in the past and at most ${Math.round(oidc.maxTokenAgeMs / 1000)}s ago`,
    };
    return new CallerRefused(401, `"${error.claim}": ${expected[error.claim] ?? 'the claim is missing or not valid'}.`);
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new CallerRefused(401, `"kid": the token was signed with a key the issuer does not publish at ${oidc.jwksUrl}.`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new CallerRefused(401, "signature: the token's signature does not verify with the issuer's key.");
  }
  const fetchFailed = !(error instanceof errors.JOSEError) || error.code === 'ERR_JOSE_GENERIC'; // network error, or not a 200
  if (fetchFailed || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    // Not the caller's fault: the keys could not be fetched or read. A 503, so the caller may retry.
    return new CallerRefused(503, `the issuer's keys could not be fetched from ${oidc.jwksUrl}; try again shortly.`);
  }
  return new CallerRefused(401, 'the token is not a valid JWT.');
}
