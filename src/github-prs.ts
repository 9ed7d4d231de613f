import { ActionFailure, messageOf } from './errors.js';

/**
 * Asks GitHub whether pull requests are still open (GET /repos/{owner}/{repo}/pulls/{number}).
 * @actions/github, and with it Octokit, is imported only here and only when a mode needs GitHub,
 * so the plain mint path never loads it.
 */
export type PrState = 'open' | 'closed' | 'merged';

export interface PullRequests {
  stateOf(pr: number): Promise<PrState>;
}

const REQUEST_TIMEOUT_MS = 20_000;

export function gitHubPullRequests(token: string, repository: string, apiUrl: string, signal?: AbortSignal): PullRequests {
  const [owner = '', repo = ''] = repository.split('/');
  let octokit: Promise<{ request: (route: string, params: Record<string, unknown>) => Promise<{ data: unknown }> }> | undefined;
  return {
    async stateOf(pr) {
      if (!token) {
        throw new ActionFailure(
          'github-token is empty; it is needed to ask GitHub which pull requests are open. Leave it at its default (`${{ github.token }}`).',
        );
      }
      octokit ??= import('@actions/github').then(({ getOctokit }) => getOctokit(token, { baseUrl: apiUrl }));
      try {
        const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
        const { data } = await (await octokit).request('GET /repos/{owner}/{repo}/pulls/{pull_number}', {
          owner,
          repo,
          pull_number: pr,
          request: { signal: signal ? AbortSignal.any([timeout, signal]) : timeout },
        });
        const { state, merged } = data as { state?: unknown; merged?: unknown };
        if (state === 'open') return 'open';
        if (state === 'closed') return merged === true ? 'merged' : 'closed';
        throw new Error(`GitHub answered without a state for PR #${pr}`);
      } catch (error) {
        throw new ActionFailure(explainGitHubError(error, repository, pr));
      }
    },
  };
}

function explainGitHubError(error: unknown, repository: string, pr: number): string {
  const status = (error as { status?: unknown }).status;
  const what = `could not ask GitHub about ${repository} PR #${pr}`;
  if (status === 401) return `${what}: github-token was refused (401). Leave github-token at its default or pass a valid token.`;
  if (status === 403 || status === 404) {
    return `${what}: GitHub answered ${status}. The token may lack read access to pull requests: give the job \`permissions: pull-requests: read\`.`;
  }
  if (typeof status === 'number') return `${what}: GitHub answered ${status}.`;
  return `${what}: ${messageOf(error)}.`;
}
