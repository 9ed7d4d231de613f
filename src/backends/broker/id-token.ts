/**
 * The job's OIDC token, asked of the runner as its documented protocol says: with `permissions:
 * id-token: write` the runner sets ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, and
 * `GET <url>&audience=<aud>` with that bearer answers `{ "value": "<JWT>" }`. This is what
 * @actions/core's getIDToken does; it is written here (a dozen lines) so the step keeps its one
 * transport and its own environment, and so @actions/core, which the action no longer loads, stays out.
 */
import { ActionFailure, messageOf } from '../../../core/errors.js';
import type { HttpTransport } from '../../../core/http.js';

export interface IdTokenRequest {
  env: Record<string, string | undefined>;
  audience: string;
  transport: HttpTransport;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The runner's request token and the new JWT are masked the moment they are known. */
  mask: (secret: string) => void;
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export async function requestIdToken(request: IdTokenRequest): Promise<string> {
  const url = request.env.ACTIONS_ID_TOKEN_REQUEST_URL ?? '';
  const bearer = request.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '';
  if (url === '' || bearer === '') {
    throw new ActionFailure(
      'broker-url is set, but the runner offers this job no OIDC token: add `permissions: id-token: write` to the job (or workflow). ' +
        'Runs for pull requests from forks, and Dependabot runs, never get one: skip the step for them with `if:`.',
    );
  }
  request.mask(bearer);
  const target = new URL(url);
  target.searchParams.set('audience', request.audience);
  let answer: { status: number; text: string };
  try {
    answer = await request.transport.send({
      method: 'GET',
      url: target,
      headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
      timeoutMs: request.timeoutMs,
      signal: request.signal,
    });
  } catch (error) {
    throw new ActionFailure(`the runner did not hand out an OIDC token (${messageOf(error)}); re-run the job.`);
  }
  let value: unknown;
  try {
    value = (JSON.parse(answer.text) as { value?: unknown }).value;
  } catch {}
  if (answer.status !== 200 || typeof value !== 'string' || !JWT.test(value)) {
    throw new ActionFailure(
      `the runner answered ${answer.status} without an OIDC token. Check that the job has \`permissions: id-token: write\`; re-run the job if it has.`,
    );
  }
  request.mask(value);
  return value;
}
