// A GitHub-API-compatible server for tests: the two routes the action asks, GET
// /repos/{owner}/{repo}/pulls/{number} and GET /repos/{owner}/{repo}/actions/runs/{run_id}, reached
// through GITHUB_API_URL as on the real runner. Loopback only.
import { createServer, type Server } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback.ts';

export type PullState = 'open' | 'closed' | 'merged';
export type RunStatus = 'queued' | 'in_progress' | 'completed';

export class GitHubServer {
  /** PR states by `owner/repo#number`, run statuses by `owner/repo@run_id`; anything not listed is a 404. */
  readonly pulls = new Map<string, PullState>();
  readonly runs = new Map<string, RunStatus>();
  readonly requests: { path: string; authorization: string | undefined }[] = [];
  /** Answer every request with this status instead (401, 403, 500 …), or a 200 without a state. */
  failWith: number | 'no-state' | undefined;
  /** Answer one path (e.g. `/repos/o/r/pulls/9`) with this status. */
  readonly failPath = new Map<string, number>();
  url = '';
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const path = req.url ?? '';
      this.requests.push({ path, authorization: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      const failure = this.failWith ?? this.failPath.get(path);
      if (failure === 'no-state') return void res.writeHead(200).end('{"number": 1}');
      if (failure) return void res.writeHead(failure).end(JSON.stringify({ message: 'Failure' }));
      const pull = /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/.exec(path);
      const state = pull ? this.pulls.get(`${pull[1]}/${pull[2]}#${pull[3]}`) : undefined;
      if (pull && state) {
        const body = { number: Number(pull[3]), state: state === 'open' ? 'open' : 'closed', merged: state === 'merged', merged_at: null };
        return void res.writeHead(200).end(JSON.stringify(body));
      }
      const run = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d+)$/.exec(path);
      const status = run ? this.runs.get(`${run[1]}/${run[2]}@${run[3]}`) : undefined;
      if (run && status) {
        const body = { id: Number(run[3]), status, conclusion: status === 'completed' ? 'success' : null };
        return void res.writeHead(200).end(JSON.stringify(body));
      }
      res.writeHead(404).end(JSON.stringify({ message: 'Not Found', documentation_url: 'https://docs.github.com/rest' }));
    });
  }

  setPull(repository: string, number: number, state: PullState): void {
    this.pulls.set(`${repository}#${number}`, state);
  }

  setRun(repository: string, runId: string, status: RunStatus): void {
    this.runs.set(`${repository}@${runId}`, status);
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
