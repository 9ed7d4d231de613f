// Stopping what a test started, in the order given, however the test ended: brokers before the issuer
// and Venice they talk to, Redis last; a Redis client is disconnected, a server stopped.
type Stoppable = { stop(): Promise<unknown> } | { disconnect(): unknown } | undefined;

export async function stopAll(...parts: Stoppable[]): Promise<void> {
  for (const part of parts) {
    if (part && 'stop' in part) await part.stop();
    else part?.disconnect();
  }
}
