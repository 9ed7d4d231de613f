// The shipped broker.example.yaml, as an operator would deploy it, pointed at this test's fakes: the
// issuer and audience, Venice, a free loopback port. Everything else (limits, webhook, rules) is the
// example's own, so a test of "the example config" tests what operators copy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { AUDIENCE } from '../../../fakes/broker-process.ts';
import type { OidcIssuer } from '../../../fakes/oidc-issuer.ts';
import { REPO } from '../../../fakes/runner.ts';
import type { VeniceServer } from '../../../fakes/venice-server.ts';

/** octo-org's owner id in the example's main-branch-ci rule. */
export const EXAMPLE_OWNER_ID = '987654';

export function exampleConfig(
  venice: VeniceServer,
  issuer: OidcIssuer,
  change: (config: Record<string, Record<string, unknown>>) => void = () => undefined,
): string {
  const config = parse(readFileSync(join(REPO, 'broker/broker.example.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  config.listen = { host: '127.0.0.1', port: 0 };
  config.oidc = { ...config.oidc, issuer: issuer.url, audience: AUDIENCE };
  config.venice = { ...config.venice, 'api-url': venice.apiUrl };
  change(config);
  return stringify(config);
}
