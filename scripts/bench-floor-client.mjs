// The floor for `npm run bench`: the fewest lines of Node that send a step's requests over one
// keep-alive connection with node:https. It is spawned exactly as the action's steps are, and sends the
// same requests, so the difference is what the action itself costs. Requests come as JSON in FLOOR_REQUESTS.
import https from 'node:https';

const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
for (const { method, url, key, body } of JSON.parse(process.env.FLOOR_REQUESTS)) {
  const text = await new Promise((resolve, reject) => {
    const request = https.request(
      url,
      { method, agent, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
      (answer) => {
        let data = '';
        answer.on('data', (chunk) => (data += chunk));
        answer.on('end', () => resolve(data));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
  if (!text.startsWith('{')) throw new Error(text);
}
agent.destroy();
