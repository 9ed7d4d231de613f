// GitHub's webhook deliveries as GitHub sends them: real payloads from @octokit/webhooks-examples (the
// examples Octokit publishes per event and action), adjusted to a test's repository, run or PR, signed
// with the secret (X-Hub-Signature-256), and sent with GitHub's headers. Used by tests and the demo.
import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { idOf } from './oidc-issuer.ts';

type Example = Record<string, unknown> & { action?: string };
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples/api.github.com/index.json') as {
  name: string;
  examples: Example[];
}[];

function example(event: string, action: string): Example {
  const found = examples.find((entry) => entry.name === event)?.examples.find((payload) => payload.action === action);
  if (!found) throw new Error(`@octokit/webhooks-examples has no ${event} ${action} example`);
  return structuredClone(found);
}

/** The payload's repository (and organisation) made `repository`, with the ids a token would carry. */
function forRepository(payload: Example, repository: string): Example {
  const [owner = '', name = ''] = repository.split('/');
  const repo = payload.repository as Record<string, unknown> & { owner: Record<string, unknown> };
  Object.assign(repo, { id: Number(idOf(repository)), name, full_name: repository });
  Object.assign(repo.owner, { id: Number(idOf(owner)), login: owner });
  if (payload.organization) Object.assign(payload.organization as Record<string, unknown>, { id: Number(idOf(owner)), login: owner });
  return payload;
}

/** A run's attempt completed (attempt 1 unless said: a re-run's completion names its own attempt). */
export function workflowRunCompleted(repository: string, runId: string, attempt = 1): Example {
  const payload = forRepository(example('workflow_run', 'completed'), repository);
  Object.assign(payload.workflow_run as Record<string, unknown>, { id: Number(runId), run_attempt: attempt, status: 'completed' });
  return payload;
}

/** A PR closed at `closedAt` (now unless said, as GitHub sends it at once). */
export function pullRequestClosed(repository: string, pr: number, merged = true, closedAt = new Date()): Example {
  const payload = forRepository(example('pull_request', 'closed'), repository);
  payload.number = pr;
  Object.assign(payload.pull_request as Record<string, unknown>, {
    number: pr,
    merged,
    state: 'closed',
    closed_at: closedAt.toISOString(),
  });
  return payload;
}

export function ping(repository: string): Example {
  return forRepository(structuredClone(examples.find((entry) => entry.name === 'ping')?.examples[0] as Example), repository);
}

export interface Delivery {
  status: number;
  json: Record<string, unknown>;
}

/** POSTs one delivery to `url` as GitHub does; `signWith` undefined sends no signature. */
export async function deliver(
  url: string,
  event: string,
  payload: unknown,
  options: { signWith?: string | undefined; delivery?: string } = {},
): Promise<Delivery & { delivery: string }> {
  const body = JSON.stringify(payload);
  const delivery = options.delivery ?? randomUUID();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/test',
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-github-hook-id': '123456',
  };
  if (options.signWith !== undefined) {
    headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', options.signWith).update(body).digest('hex')}`;
  }
  const response = await fetch(`${url}/v1/github/webhook`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: response.status, json, delivery };
}
