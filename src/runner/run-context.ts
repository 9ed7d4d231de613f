/**
 * Who is running: the repository, the run and its attempt, the job, and the pull request if there is
 * one. Read from the runner's environment and event payload directly rather than through
 * @actions/github, whose entry module loads Octokit: the mint path never talks to GitHub.
 */

import { readFileSync } from 'node:fs';
import { ActionFailure } from '../../core/errors.js';
import { prNumberOf } from '../../core/ownership.js';
import type { Config } from './inputs.js';

export interface RunContext {
  repository: string;
  runId: string;
  runAttempt: string;
  /** The job's id in the workflow (GITHUB_JOB): the default preview slot. */
  job: string;
  eventName: string;
  prNumber: number | undefined;
  githubApiUrl: string;
}

type Env = Record<string, string | undefined>;

export function readRunContext(env: Env): RunContext {
  const repository = env.GITHUB_REPOSITORY ?? '';
  const runId = env.GITHUB_RUN_ID ?? '';
  if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repository) || !/^[1-9]\d{0,12}$/.test(runId)) {
    throw new ActionFailure(
      'GITHUB_REPOSITORY and GITHUB_RUN_ID are not set as the GitHub runner sets them; this action must run inside a GitHub Actions job.',
    );
  }
  const runAttempt = /^[1-9]\d{0,2}$/.test(env.GITHUB_RUN_ATTEMPT ?? '') ? (env.GITHUB_RUN_ATTEMPT as string) : '1';
  const eventName = env.GITHUB_EVENT_NAME ?? '';
  return {
    repository,
    runId,
    runAttempt,
    job: env.GITHUB_JOB ?? '',
    eventName,
    prNumber: prNumberFromEvent(readEventPayload(env.GITHUB_EVENT_PATH)),
    githubApiUrl: (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, ''),
  };
}

function readEventPayload(path: string | undefined): unknown {
  if (!path) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // no payload (a local run) or an unreadable one: there is simply no PR to find.
  }
}

/**
 * The PR an event is about: `pull_request*` events carry `pull_request.number`; an `issue_comment`
 * (or other issue event) is about a PR only when its issue has a `pull_request` link.
 */
export function prNumberFromEvent(payload: unknown): number | undefined {
  if (!isObject(payload)) return undefined;
  const pr = payload.pull_request;
  if (isObject(pr) && typeof pr.number === 'number') return prNumberOf(pr.number);
  const issue = payload.issue;
  if (isObject(issue) && isObject(issue.pull_request) && typeof issue.number === 'number') return prNumberOf(issue.number);
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** The PR to act for: the pr-number input, else the event's. */
export function pullRequestFor(config: Pick<Config, 'prNumber'>, context: RunContext): number | undefined {
  return config.prNumber ?? context.prNumber;
}
