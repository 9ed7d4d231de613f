// A TCP relay on loopback that holds every chunk for half a round trip in each direction, so a server
// behind it looks `rttMs` away. Order is kept; nothing is read or changed. For `npm run bench`.
import { createServer, type Server, Socket } from 'node:net';

export class DelayRelay {
  url = '';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly target: { host: string; port: number };
  private readonly rttMs: number;

  // No parameter properties: npm run bench runs this file with Node's type stripping.
  constructor(target: { host: string; port: number }, rttMs: number) {
    this.target = target;
    this.rttMs = rttMs;
    this.server = createServer((client) => {
      // The client's first bytes reach the server one round trip after it connected, as if the TCP
      // handshake to a far server had taken that long. The upstream socket itself connects at once: a
      // write to a socket not yet told to connect fails, and the relay would reset the connection.
      const upstream = new Socket().connect(this.target.port, this.target.host);
      const firstByteAt = performance.now() + this.rttMs;
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      this.delayed(client, upstream, firstByteAt);
      this.delayed(upstream, client);
    });
  }

  private delayed(from: Socket, to: Socket, notBefore = 0): void {
    let last = notBefore;
    from.on('data', (chunk) => {
      const at = Math.max(performance.now() + this.rttMs / 2, last);
      last = at;
      setTimeout(() => to.write(chunk), Math.max(0, at - performance.now()));
    });
    from.on('end', () => setTimeout(() => to.end(), Math.max(0, last - performance.now())));
  }

  async start(): Promise<number> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}
