// A TCP load balancer on loopback in front of broker replicas, as a platform's would be: each new
// connection goes to the next backend in turn; a backend that refuses the connection is skipped. A
// connection whose backend dies is cut (the caller sees a reset, as behind a real one). Tests change
// the backends as replicas are killed, started and drained.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class LoadBalancer {
  private readonly server: Server;
  private backends: { host: string; port: number }[] = [];
  private next = 0;
  private readonly open = new Set<Socket>();
  /** Connections handed to each backend ("host:port" → count). */
  readonly connections = new Map<string, number>();
  url = '';

  constructor(urls: string[]) {
    this.setBackends(urls);
    this.server = createServer((client) => this.forward(client, 0));
  }

  setBackends(urls: string[]): void {
    this.backends = urls.map((url) => {
      const { hostname, port } = new URL(url);
      return { host: hostname, port: Number(port) };
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise((done) => this.server.close(done));
  }

  private forward(client: Socket, tried: number): void {
    if (this.backends.length === 0 || tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const backend = this.backends[this.next++ % this.backends.length] as { host: string; port: number };
    const upstream = createConnection(backend);
    upstream.once('error', () => {
      if (!upstream.remoteAddress && !client.destroyed) {
        this.forward(client, tried + 1); // refused: the next backend
      } else {
        client.destroy();
      }
    });
    upstream.once('connect', () => {
      const name = `${backend.host}:${backend.port}`;
      this.connections.set(name, (this.connections.get(name) ?? 0) + 1);
      this.open.add(client);
      this.open.add(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => {
        upstream.destroy();
        this.open.delete(client);
      });
      upstream.on('close', () => {
        client.destroy();
        this.open.delete(upstream);
      });
    });
  }
}
