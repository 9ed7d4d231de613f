/**
 * What a broker caller is told about a key-handle that does not open (core/key-handle.ts says which
 * problem it is). The caller holds no admin key: the broker seals and opens handles with its own, so a
 * handle from another broker (or the direct path) does not open here.
 */
import type { HandleWording } from '../../../core/key-handle.js';

export const handleAdviceForCaller: HandleWording = (problem, { repository, runId, handleRunId }) => {
  switch (problem) {
    case 'cut-short':
      return "key-handle is cut short or altered: send the minting job's key-handle output unchanged.";
    case 'other-repository':
      return `key-handle was made in another repository, not ${repository} (this token's). A handle opens only in the repository and run that minted it.`;
    case 'other-run':
      return (
        `key-handle was made in run ${handleRunId}, and this is run ${runId} (this token's). A handle opens only in the run that minted it ` +
        '(re-runs included): mint a run key through the broker in this workflow run.'
      );
    case 'not-opened':
      return (
        'key-handle could not be opened: either it was altered (send the output unchanged), or it was not minted through this broker ' +
        '(a handle opens only at the broker that sealed it; a key minted with admin-key has its handle opened by the action itself).'
      );
    case 'not-run-key':
      return "key-handle does not hold this run's key: send the key-handle output of this run's job that minted with scope: run.";
  }
};
