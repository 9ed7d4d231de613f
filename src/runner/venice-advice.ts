/**
 * The action's advice for what Venice says about the admin key or a request: it speaks to the workflow,
 * which holds `admin-key` and sets the key's inputs. (The broker gives its callers its own.)
 */
import type { DeadlineWording } from '../../core/deadline.js';
import type { VeniceProblem } from '../../core/venice-errors.js';

/** The step ran out of its `timeout` talking to Venice. */
export const VENICE_STEP_DEADLINE: DeadlineWording = {
  budget: "the step's timeout",
  advice: 'Raise the `timeout` input if Venice is slow or many jobs mint at once.',
};

/** The step ran out of its `timeout` talking to the broker (its queue, a deploy, its store). */
export const BROKER_STEP_DEADLINE: DeadlineWording = {
  budget: "the step's timeout",
  advice: "Raise the `timeout` input only if many jobs mint at once (the broker's queue).",
};

const ADVICE: Record<VeniceProblem, string> = {
  'inference-key':
    ' admin-key holds an inference key. Minting keys needs an admin key: create one in Venice (Settings → API keys, type Admin) and store it in the secret.',
  'refused-key': ' The key in admin-key is wrong, expired or revoked: check the value stored in the secret.',
  'no-key': ' Check that admin-key holds a Venice API key.',
  forbidden: " Check the admin key's account and permissions.",
  'bad-settings': ' Check expires-in, the limits and model-privacy; Venice also refuses new keys past 500 active keys per account.',
  'not-venice': ' Check api-url: Venice\u2019s is https://api.venice.ai/api/v1 (leave the input out to use it).',
  unreachable:
    ' Check api-url: Venice\u2019s is https://api.venice.ai/api/v1 (leave the input out to use it), and that the runner can reach it (a proxy needs HTTPS_PROXY).',
};

export function adviceForWorkflow(problem: VeniceProblem): string {
  return ADVICE[problem];
}
