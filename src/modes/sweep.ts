/**
 * mode sweep (on a schedule): delete what nobody else will. Preview keys of closed or merged PRs, and
 * job and run keys whose workflow run has completed (their post step or revoke job never ran: the
 * runner died, or the revoke job was skipped). Job keys minted with skip-delete are their owner's to
 * keep until they expire. What GitHub cannot answer (404, 403, 5xx) is kept and listed; everything it
 * did answer is still handled, and the step then ends with a warning.
 */

import { listedFacts, type OwnedKey } from '../../core/delete-keys.js';
import { ActionFailure, messageOf } from '../../core/errors.js';
import { isSweepable } from '../../core/ownership.js';
import { safeText } from '../../core/safe-text.js';
import type { KeyBackend } from '../backends/key-backend.js';
import type { GitHubApi } from '../github/github-api.js';
import type { ActionIO } from '../runner/action-io.js';
import type { Config } from '../runner/inputs.js';
import type { RunContext } from '../runner/run-context.js';
import { keyTable, writeSummary } from '../runner/summary.js';
import { publishDeleted } from './outputs.js';

export interface SweepDeps {
  io: ActionIO;
  context: RunContext;
  gitHub: () => GitHubApi;
  /** Lists this repository's keys and deletes the ones named: directly, or the broker (its rule must allow sweep). */
  backend: KeyBackend;
}

interface Verdict {
  remove: boolean;
  why: string;
}

export async function sweep(config: Config, deps: SweepDeps): Promise<void> {
  const { io, context, backend } = deps;
  const keys = await backend.listOwned();
  const unanswered: string[] = [];
  const asked = new Map<string, Promise<Verdict>>();
  // One question per PR and per run, however many keys share it; a failure is kept to that PR or run.
  const ask = (question: string, answer: () => Promise<Verdict>): Promise<Verdict> => {
    let verdict = asked.get(question);
    if (!verdict) {
      verdict = answer().catch((error: unknown) => {
        unanswered.push(`${question}: ${safeText(messageOf(error))}`);
        return { remove: false, why: `kept: GitHub did not answer about ${question}` };
      });
      asked.set(question, verdict);
    }
    return verdict;
  };
  const verdicts = new Map<OwnedKey, Verdict>();
  await io.group('Ask GitHub which pull requests and runs are over', async () => {
    for (const key of keys) {
      const { tag } = key;
      let verdict: Verdict;
      if (!isSweepable(listedFacts(key))) {
        verdict = { remove: false, why: 'kept: minted with skip-delete, it is its owner\u2019s until it expires' };
      } else if (tag.scope === 'pr') {
        verdict = await ask(`PR #${tag.pr}`, async () => {
          const state = await deps.gitHub().pullState(tag.pr as number);
          return { remove: state !== 'open', why: `PR #${tag.pr} is ${state}` };
        });
      } else {
        verdict = await ask(`run ${tag.runId}`, async () => {
          const status = await deps.gitHub().runStatus(tag.runId);
          return { remove: status === 'completed', why: `run ${tag.runId} ${status === 'completed' ? 'has completed' : 'is still going'}` };
        });
      }
      verdicts.set(key, verdict);
    }
  });
  for (const [question, verdict] of asked) io.info(`${question}: ${(await verdict).why}`);
  const remove = keys.filter((key) => (verdicts.get(key) as Verdict).remove);
  const keep = keys.filter((key) => !(verdicts.get(key) as Verdict).remove);
  io.info(`${keys.length} key(s) of ${context.repository}: ${remove.length} to delete, ${keep.length} kept.`);

  const deleted = await io.group('Delete the keys nobody else will', () => backend.deleteOwned(remove, config.dryRun));
  publishDeleted(io, deleted, config.dryRun);
  io.setOutput('kept-count', String(keep.length));
  const why = (key: OwnedKey): string => (verdicts.get(key) as Verdict).why;
  const verb = config.dryRun ? 'Would delete (dry run)' : 'Deleted';
  const unansweredList = unanswered.length ? `\n\n#### GitHub did not answer\n\n${unanswered.map((line) => `- ${line}`).join('\n')}` : '';
  await writeSummary(
    io,
    `### Venice keys swept\n\n#### ${verb}\n\n${keyTable(remove, why)}\n\n#### Kept\n\n${keyTable(keep, why)}${unansweredList}\n`,
  );
  if (unanswered.length > 0) {
    const message =
      `GitHub could not answer about ${unanswered.length} pull request(s) or run(s), so their keys were kept: ${unanswered.join('; ')}. ` +
      'The job needs `permissions: pull-requests: read, actions: read`; the next sweep tries again.';
    if (config.failOnCleanupError) throw new ActionFailure(message);
    io.warning(message);
  }
}
