/**
 * The broker's advice for what Venice says about its admin key or a request. Its callers hold no admin
 * key and cannot fix the broker's: they are told it is the broker's side, and who can act on it.
 */
import type { DeadlineWording } from '../../../core/deadline.js';
import type { VeniceProblem } from '../../../core/venice-errors.js';

const OPERATOR = "the broker's operator";
const ADVICE: Record<VeniceProblem, string> = {
  'inference-key': ` The broker holds an inference key where it needs an admin key: ${OPERATOR} must set an admin key.`,
  'refused-key': ` The broker's admin key is wrong, expired or revoked: ${OPERATOR} must replace it; retrying will not help.`,
  'no-key': ` The broker sent no usable admin key: ${OPERATOR} must check its configuration.`,
  forbidden: ` ${OPERATOR[0]?.toUpperCase()}${OPERATOR.slice(1)} should check the admin key's account and permissions.`,
  'bad-settings': ` The request was within the broker's policy; Venice may be at its 500 active keys per account: tell ${OPERATOR}.`,
  'not-venice': ` The broker's venice.api-url does not point at Venice: tell ${OPERATOR}.`,
  unreachable: ` The broker cannot reach Venice at its venice.api-url (wrong address, DNS or a firewall): tell ${OPERATOR}.`,
};

/** The broker ran out of its own budget for one request to Venice (its callers cannot change it). */
export const BROKER_VENICE_DEADLINE: DeadlineWording = {
  budget: "the broker's venice-timeout",
  advice: "Venice was slow or failing; retry later, and tell the broker's operator if it lasts (limits.venice-timeout).",
};

export function adviceForBrokerCaller(problem: VeniceProblem): string {
  return ADVICE[problem];
}
