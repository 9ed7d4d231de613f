// Set-up for the in-process step tests: a Venice-compatible server and the inputs that point at it.
import { afterEach, beforeEach } from 'vitest';
import { VeniceServer } from '../support/venice-server.ts';

export function useInProcessBed(): { server: VeniceServer; inputs: Record<string, string> } {
  const bed = {} as { server: VeniceServer; inputs: Record<string, string> };
  beforeEach(async () => {
    bed.server = await new VeniceServer().start();
    bed.inputs = { 'admin-key': bed.server.adminKey, 'api-url': bed.server.apiUrl, timeout: '4s' };
  });
  afterEach(async () => {
    await bed.server.stop();
  });
  return bed;
}
