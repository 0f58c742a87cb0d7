import { Server, Socket, createConnection, createServer } from 'node:net';

type Mode = 'forward' | 'paused' | 'dropping';

/**
 * A TCP proxy the test owns, between the service and PostgreSQL or Redis, to make the faults that do not
 * close connections: `pause()` stops moving bytes in both directions (a partition, a hung primary: the
 * peers keep their sockets and hear nothing), `pauseOn(text)` does so for the first connection that sends
 * `text` (silence in the middle of a transaction), `freezeExisting()` for the connections open now while
 * new ones go through (a failover), `dropReplies()` throws away what the server sends (a broken stream),
 * `stop()` closes everything and refuses new connections (a stopped server) until `start()`.
 */
export class TcpProxy {
  private server?: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  private mode: Mode = 'forward';
  private pauseWhenSent?: string;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(port, target);
    await proxy.start();
    return proxy;
  }

  /** `url` with its host and port replaced by this proxy's. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    (this as { port: number }).port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
    this.mode = 'forward';
  }

  pause(): void {
    this.mode = 'paused';
    for (const [client, upstream] of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  pauseOn(text: string): void {
    this.pauseWhenSent = text;
  }

  freezeExisting(): void {
    for (const [client, upstream] of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  dropReplies(): void {
    this.mode = 'dropping';
  }

  resume(): void {
    this.mode = 'forward';
    this.pauseWhenSent = undefined;
    for (const [client, upstream] of this.pairs) {
      client.resume();
      upstream.resume();
    }
  }

  /** Closes every connection and stops listening: connecting is refused until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get connections(): number {
    return this.pairs.size;
  }

  private accept(client: Socket): void {
    const upstream = createConnection(this.target);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk) => {
      upstream.write(chunk);
      // The server gets the statement; its answer never comes back.
      if (this.pauseWhenSent && chunk.includes(this.pauseWhenSent)) {
        this.pauseWhenSent = undefined;
        client.pause();
        upstream.pause();
      }
    });
    upstream.on('data', (chunk) => {
      if (this.mode !== 'dropping') client.write(chunk);
    });
    if (this.mode === 'paused') {
      client.pause();
      upstream.pause();
    }
  }
}
