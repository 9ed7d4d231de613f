/**
 * What a workflow is told about a key-handle that does not open (core/key-handle.ts says which problem
 * it is): the inputs to check, and how handles are meant to travel between a run's jobs.
 */
import type { HandleWording } from '../../core/key-handle.js';

export const handleAdviceForWorkflow: HandleWording = (problem, { repository, runId, handleRunId }) => {
  switch (problem) {
    case 'cut-short':
      return "key-handle is cut short or altered: pass the minting job's `key-handle` output unchanged.";
    case 'other-repository':
      return `key-handle was made in another repository, not ${repository}. A handle works only in the repository and run that minted it.`;
    case 'other-run':
      return (
        `key-handle was made in run ${handleRunId}, and this is run ${runId}. A handle works only in the run that minted it ` +
        '(re-runs included): mint a run key in this workflow run, e.g. in a job that this one `needs`.'
      );
    case 'not-opened':
      return (
        'key-handle could not be opened: either it was altered (pass the output unchanged), or admin-key is not the admin key ' +
        'the minting job used (every job of the run must use the same secret).'
      );
    case 'not-run-key':
      return "key-handle does not hold this run's key: pass the key-handle output of this run's job that minted with scope: run.";
  }
};
