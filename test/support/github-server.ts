// A GitHub-API-compatible server for tests: just GET /repos/{owner}/{repo}/pulls/{number}, which is all
// the action asks GitHub. Reached through GITHUB_API_URL, as on the real runner. Loopback only.
import { createServer, type Server } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback.ts';

export type PullState = 'open' | 'closed' | 'merged';

export class GitHubServer {
  /** PR states by `owner/repo#number`; a PR not listed answers 404. */
  readonly pulls = new Map<string, PullState>();
  readonly requests: { path: string; authorization: string | undefined }[] = [];
  /** Answer every request with this status instead (401, 403, 500 …), or a 200 without a state. */
  failWith: number | 'no-state' | undefined;
  url = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      this.requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
      const match = /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/.exec(req.url ?? '');
      const state = match ? this.pulls.get(`${match[1]}/${match[2]}#${match[3]}`) : undefined;
      res.setHeader('content-type', 'application/json');
      if (this.failWith === 'no-state') return void res.writeHead(200).end('{"number": 1}');
      if (this.failWith) return void res.writeHead(this.failWith).end(JSON.stringify({ message: 'Failure' }));
      if (!match || !state) {
        res.writeHead(404).end(JSON.stringify({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }));
        return;
      }
      res.writeHead(200).end(
        JSON.stringify({
          number: Number(match[3]),
          state: state === 'open' ? 'open' : 'closed',
          merged: state === 'merged',
          merged_at: null,
        }),
      );
    });
  }

  setPull(repository: string, number: number, state: PullState): void {
    this.pulls.set(`${repository}#${number}`, state);
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenOnLoopback(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}

/** Event payloads as GitHub writes them to GITHUB_EVENT_PATH (only the fields the action reads). */
export const events = {
  pullRequest: (number: number, action = 'synchronize') => ({
    name: 'pull_request',
    payload: { action, number, pull_request: { number, state: 'open' } },
  }),
  pullRequestTarget: (number: number) => ({ name: 'pull_request_target', payload: { action: 'opened', number, pull_request: { number } } }),
  pullRequestClosed: (number: number) => ({
    name: 'pull_request',
    payload: { action: 'closed', number, pull_request: { number, state: 'closed', merged: true } },
  }),
  issueCommentOnPr: (number: number) => ({
    name: 'issue_comment',
    payload: { action: 'created', issue: { number, pull_request: { url: 'x' } }, comment: { body: '/preview' } },
  }),
  schedule: () => ({ name: 'schedule', payload: { schedule: '0 3 * * *' } }),
  push: () => ({ name: 'push', payload: { ref: 'refs/heads/main' } }),
};
