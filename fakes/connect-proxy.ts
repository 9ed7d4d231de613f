// A small forward proxy for tests: CONNECT tunnels (what HTTPS_PROXY is used for) and plain
// absolute-URI requests (HTTP_PROXY). It resolves host names through a table it is given, so a
// test can reach a loopback server under a made-up name that nothing else can resolve.
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { closeServer, listenOnLoopback } from './loopback.ts';

export class ConnectProxy {
  /** Every `host:port` asked for, in order. */
  readonly requested: string[] = [];
  url = '';
  private readonly server: Server;
  private readonly hosts: Record<string, string>;

  constructor(hosts: Record<string, string> = {}) {
    this.hosts = hosts;
    this.server = createServer((req, res) => {
      // Plain HTTP through the proxy: the request line carries the absolute URL.
      const target = new URL(req.url ?? '');
      this.requested.push(target.host);
      const upstream = request(
        {
          host: this.resolve(target.hostname),
          port: target.port,
          method: req.method,
          path: target.pathname + target.search,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    this.server.on('connect', (req, client, head) => {
      const [host = '', port = '443'] = (req.url ?? '').split(':');
      this.requested.push(`${host}:${port}`);
      const upstream = connect(Number(port), this.resolve(host), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
      client.on('error', () => upstream.destroy());
    });
  }

  /** Called for every TCP connection a client opens to the proxy. */
  onConnection(listener: () => void): void {
    this.server.on('connection', listener);
  }

  private resolve(host: string): string {
    return this.hosts[host] ?? host;
  }

  async start(): Promise<this> {
    this.url = `http://127.0.0.1:${await listenOnLoopback(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
