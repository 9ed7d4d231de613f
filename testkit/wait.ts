// Waiting, bounded, for something a server reaches on its own (a pool filled, a key deleted in the
// background): the condition is looked at every `everyMs` until it holds or `withinMs` has passed, and
// the test fails naming what it waited for. A bound, not a timing assertion: it only says "eventually".
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  { withinMs = 10_000, everyMs = 25 }: { withinMs?: number; everyMs?: number } = {},
): Promise<void> {
  const until = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`waited ${withinMs / 1000} s for ${what}`);
    await new Promise((done) => setTimeout(done, everyMs));
  }
}
