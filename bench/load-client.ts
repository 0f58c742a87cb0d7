/**
 * The load generator, run as its own process so it never shares an event loop with what it measures:
 * `node load-client.js <plan.json> <results.json> <baseUrl[,baseUrl…]> <connections>`.
 * Each of `connections` keep-alive sockets sends the plan's requests one after another (next request of the
 * plan in order), and records status, latency and the returned ticketId or error message. With several
 * base URLs (instances) the connections are spread over them, and each request goes to its `target`
 * instance (0 without one). Raw HTTP/1.1 over `net` with pre-built requests: a general client (undici,
 * fetch) tops out near the server's own speed on a 2-core machine and would measure itself instead of the
 * server.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Socket, connect } from 'node:net';

export interface PlannedRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Index of the base URL (instance) this request goes to; 0 when absent. */
  target?: number;
}

export interface LoadResults {
  /** Per request, in plan order; -1 when the connection failed. */
  status: number[];
  latencyMs: number[];
  /** Milliseconds since the run started. */
  endMs: number[];
  ticketId: Array<string | null>;
  /** The error message of a refusal (4xx/5xx), to tell sold out from in flight. */
  message: Array<string | null>;
  durationMs: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');

function encode(request: PlannedRequest, host: string): Buffer {
  const body = request.body === undefined ? '' : JSON.stringify(request.body);
  const headers = Object.entries({
    host,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...request.headers,
  })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return Buffer.from(`${request.method} ${request.path} HTTP/1.1\r\n${headers}\r\n${body}`);
}

/** One keep-alive connection answering one request at a time. */
function openConnection(host: string, port: number) {
  const socket: Socket = connect({ host, port, noDelay: true });
  let buffer: Buffer = Buffer.alloc(0);
  let pending: ((response: { status: number; body: string } | Error) => void) | undefined;
  const fail = (error: Error) => {
    pending?.(error);
    pending = undefined;
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    const headerEnd = buffer.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = buffer.subarray(0, headerEnd).toString('latin1');
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    const total = headerEnd + 4 + length;
    if (buffer.length < total) return;
    const body = buffer.subarray(headerEnd + 4, total).toString('utf8');
    buffer = buffer.subarray(total);
    const resolve = pending;
    pending = undefined;
    resolve?.({ status: Number(head.slice(9, 12)), body });
  });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    ready,
    send(request: Buffer): Promise<{ status: number; body: string } | Error> {
      return new Promise((resolve) => {
        pending = resolve;
        socket.write(request);
      });
    },
    close: () => socket.destroy(),
  };
}

async function main(): Promise<void> {
  const [planFile, resultsFile, baseUrls, connectionsArg] = process.argv.slice(2);
  const plan = JSON.parse(readFileSync(planFile, 'utf8')) as PlannedRequest[];
  const targets = baseUrls.split(',').map((url) => new URL(url));
  const encoded = plan.map((request) => encode(request, targets[request.target ?? 0].host));
  // Per target, the plan's indexes in plan order; each connection takes the next one of its target.
  const queues = targets.map(() => ({ indexes: [] as number[], next: 0 }));
  plan.forEach((request, index) => queues[request.target ?? 0].indexes.push(index));
  const results: LoadResults = {
    status: new Array<number>(plan.length).fill(0),
    latencyMs: new Array<number>(plan.length).fill(0),
    endMs: new Array<number>(plan.length).fill(0),
    ticketId: new Array<string | null>(plan.length).fill(null),
    message: new Array<string | null>(plan.length).fill(null),
    durationMs: 0,
  };
  const connections = await Promise.all(
    Array.from({ length: Number(connectionsArg) }, async (_, n) => {
      const target = n % targets.length;
      const connection = openConnection(targets[target].hostname, Number(targets[target].port));
      await connection.ready;
      return { connection, queue: queues[target] };
    }),
  );
  const started = performance.now();
  await Promise.all(
    connections.map(async ({ connection, queue }) => {
      while (queue.next < queue.indexes.length) {
        const index = queue.indexes[queue.next++];
        const sentAt = performance.now();
        const response = await connection.send(encoded[index]);
        const endedAt = performance.now();
        results.latencyMs[index] = endedAt - sentAt;
        results.endMs[index] = endedAt - started;
        if (response instanceof Error) {
          results.status[index] = -1;
          continue;
        }
        results.status[index] = response.status;
        const parsed = JSON.parse(response.body) as { ticketId?: string; message?: string };
        if (response.status === 200 || response.status === 201) {
          results.ticketId[index] = parsed.ticketId ?? null;
        } else {
          results.message[index] = parsed.message ?? null;
        }
      }
      connection.close();
    }),
  );
  results.durationMs = performance.now() - started;
  writeFileSync(resultsFile, JSON.stringify(results));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
