/**
 * At most `max` open connections on the API listener. At the cap a new connection takes the place of
 * one that costs an authenticated caller nothing to lose, oldest first: an idle keep-alive connection,
 * else one still sending an unverified webhook body (a stranger's bytes, see github-webhook.ts). When
 * neither exists the new connection is closed at once. So a flood of slow, unsigned webhook bodies can
 * never hold the slots a runner's mint or delete needs.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface Open {
  /** Requests in progress on it. */
  busy: number;
  /** Reading a body nobody has verified yet. */
  unverified: boolean;
}

export class ConnectionCap {
  /** Open connections, oldest first. */
  private readonly open = new Map<Socket, Open>();

  constructor(private readonly max: number) {}

  watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      if (this.open.size >= this.max && !this.evictOne()) {
        socket.destroy();
        return;
      }
      this.open.set(socket, { busy: 0, unverified: false });
      socket.once('close', () => this.open.delete(socket));
    });
    server.on('request', (request, response) => {
      // Every request arrives on a connection counted above (one closed at the cap sends none); one that
      // was closed to make room meanwhile counts nowhere, harmlessly.
      const state = this.open.get(request.socket as Socket) ?? { busy: 0, unverified: false };
      state.busy++;
      response.once('close', () => {
        state.busy--;
        state.unverified = false;
      });
    });
  }

  /** Marks `socket` as reading an unverified body until the returned function is called. */
  unverified(socket: Socket | undefined): () => void {
    const state = socket ? this.open.get(socket) : undefined;
    if (!state) return () => undefined;
    state.unverified = true;
    return () => {
      state.unverified = false;
    };
  }

  private evictOne(): boolean {
    let victim: Socket | undefined;
    for (const [socket, state] of this.open) {
      if (state.busy === 0) {
        victim = socket;
        break;
      }
      victim ??= state.unverified ? socket : undefined;
    }
    if (!victim) return false;
    this.open.delete(victim);
    victim.destroy();
    return true;
  }
}
