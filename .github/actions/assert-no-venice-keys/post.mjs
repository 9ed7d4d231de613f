// Post step: list the test server's keys with its admin key; any key still alive fails the job.
const apiUrl = process.env['INPUT_API-URL'];
const adminKey = process.env['INPUT_ADMIN-KEY'];
const response = await fetch(`${apiUrl}/api_keys`, {
  headers: { authorization: `Bearer ${adminKey}` },
  signal: AbortSignal.timeout(10_000),
});
const body = await response.json();
if (!response.ok || !Array.isArray(body.data)) {
  console.log(`::error::could not list keys: HTTP ${response.status}`);
  process.exit(1);
}
if (body.data.length > 0) {
  console.log(`::error::${body.data.length} Venice key(s) left after the job: ${body.data.map((key) => key.id).join(', ')}`);
  process.exit(1);
}
console.log('No Venice key left after the job: venice-ephemeral-key deleted it.');
