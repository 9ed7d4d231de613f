/**
 * What the action asks GitHub: is a pull request still open (GET /repos/{owner}/{repo}/pulls/{number},
 * `pull-requests: read`), and has a workflow run completed (GET /repos/{owner}/{repo}/actions/runs/{id},
 * `actions: read`). @actions/github, and with it Octokit, is imported only here and only when a mode
 * needs GitHub, so the plain mint path never loads it.
 */
import { ActionFailure, messageOf } from '../../core/errors.js';
import { safeText } from '../../core/safe-text.js';

export type PrState = 'open' | 'closed' | 'merged';
export type RunStatus = 'completed' | 'not-completed';

export interface GitHubApi {
  pullState(pr: number): Promise<PrState>;
  runStatus(runId: string): Promise<RunStatus>;
}

const REQUEST_TIMEOUT_MS = 20_000;

type Octokit = { request: (route: string, params: Record<string, unknown>) => Promise<{ data: unknown }> };

export function gitHubApi({
  token,
  repository,
  apiUrl,
  signal,
}: {
  token: string;
  repository: string;
  apiUrl: string;
  /** Aborts requests when the job is cancelled. */
  signal?: AbortSignal;
}): GitHubApi {
  const [owner = '', repo = ''] = repository.split('/');
  let octokit: Promise<Octokit> | undefined;
  const get = async (
    route: string,
    params: Record<string, unknown>,
    what: string,
    permission: string,
  ): Promise<Record<string, unknown>> => {
    if (!token) {
      throw new ActionFailure(
        `github-token is empty; it is needed to ask GitHub about ${what}. Leave it at its default (\`\${{ github.token }}\`).`,
      );
    }
    octokit ??= import('@actions/github').then(({ getOctokit }) => getOctokit(token, { baseUrl: apiUrl }) as Octokit);
    try {
      const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
      const { data } = await (await octokit).request(route, {
        owner,
        repo,
        ...params,
        request: { signal: signal ? AbortSignal.any([timeout, signal]) : timeout },
      });
      if (typeof data !== 'object' || data === null) throw new Error('GitHub answered without a body');
      return data as Record<string, unknown>;
    } catch (error) {
      throw new ActionFailure(explainGitHubError(error, `${repository} ${what}`, permission));
    }
  };
  return {
    async pullState(pr) {
      const { state, merged } = await get(
        'GET /repos/{owner}/{repo}/pulls/{pull_number}',
        { pull_number: pr },
        `PR #${pr}`,
        'pull-requests: read',
      );
      if (state === 'open') return 'open';
      if (state === 'closed') return merged === true ? 'merged' : 'closed';
      throw new ActionFailure(`GitHub answered without a state for ${repository} PR #${pr}.`);
    },
    async runStatus(runId) {
      const { status } = await get('GET /repos/{owner}/{repo}/actions/runs/{run_id}', { run_id: runId }, `run ${runId}`, 'actions: read');
      if (typeof status !== 'string') throw new ActionFailure(`GitHub answered without a status for ${repository} run ${runId}.`);
      return status === 'completed' ? 'completed' : 'not-completed';
    },
  };
}

function explainGitHubError(error: unknown, what: string, permission: string): string {
  if (error instanceof ActionFailure) return error.message;
  const status = (error as { status?: unknown }).status;
  const asking = `could not ask GitHub about ${what}`;
  if (status === 401) return `${asking}: github-token was refused (401). Leave github-token at its default or pass a valid token.`;
  if (status === 403 || status === 404) {
    return `${asking}: GitHub answered ${status}. It may not exist, or the token lacks read access: give the job \`permissions: ${permission}\`.`;
  }
  // Octokit reports a request that got no answer (refused, timed out) as status 500 without a response.
  const answered = (error as { response?: unknown }).response !== undefined;
  if (typeof status === 'number' && answered) return `${asking}: GitHub answered ${status}.`;
  return `${asking}: ${safeText(messageOf(error))}.`;
}
