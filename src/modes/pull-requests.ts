/**
 * Which pull requests are open, as GitHub says: a preview key is minted only for an open PR (direct
 * and broker mints alike).
 */
import { messageOf } from '../../core/errors.js';
import type { GitHubApi, PrState } from '../github/github-api.js';
import type { ActionIO } from '../runner/action-io.js';
import { writeSummary } from '../runner/summary.js';

/**
 * A late run after a fast merge must not leave a preview key behind: a closed or merged PR gets none.
 * When GitHub cannot be asked, the key is minted anyway (it still expires, and sweep finds it later).
 */
export async function pullRequestIsOpen(pr: number, deps: { gitHub: () => GitHubApi; io: ActionIO }): Promise<boolean> {
  let state: PrState;
  try {
    state = await deps.gitHub().pullState(pr);
  } catch (error) {
    deps.io.warning(`${messageOf(error)} Minting the key anyway; it expires as set, and mode: sweep removes keys of closed PRs.`);
    return true;
  }
  if (state === 'open') return true;
  deps.io.info(`PR #${pr} is ${state}: no preview key minted, so nothing is left behind for it.`);
  await writeSummary(deps.io, `### No Venice key minted\n\nPR #${pr} is already ${state}.\n`);
  return false;
}
