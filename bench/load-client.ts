/**
 * The load generator, run as its own process so it never shares an event loop with what it measures:
 * `node load-client.js <plan.json> <results.json> <baseUrl[,baseUrl…]> <connections>`.
 * Each of `connections` keep-alive sockets sends the plan's requests one after another (next request of the
 * plan in order), and records status, latency and the returned ticketId or error message — or, for a request
 * that got no answer, why (the socket's error code, CLOSED, TIMEOUT); the next request then goes on a new
 * connection. With several
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
  /** Per request, in plan order; -1 when it got no answer (its code is in `error`). */
  status: number[];
  latencyMs: number[];
  /** Milliseconds since the run started. */
  endMs: number[];
  ticketId: Array<string | null>;
  /** The error message of a refusal (4xx/5xx), to tell sold out from in flight. */
  message: Array<string | null>;
  /** The Retry-After header of a 5xx answer (a 503 must have one), else null. */
  retryAfter: Array<string | null>;
  /**
   * Why a request got no answer: the socket's error code (ECONNRESET, EPIPE, ECONNREFUSED, …), CLOSED when
   * the server closed the connection without answering, TIMEOUT after REQUEST_TIMEOUT_MS; else null.
   */
  error: Array<string | null>;
  durationMs: number;
}

/** A request still unanswered after this long counts as unanswered (TIMEOUT); the storms' worst answers take seconds. */
export const REQUEST_TIMEOUT_MS = 30_000;

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

interface Answer {
  status: number;
  body: string;
  retryAfter: string | null;
}

/** What a request got: an answer, or the code of why there was none. */
type Outcome = Answer | { error: string };

/**
 * One keep-alive connection answering one request at a time. It is done (`open` false) once the socket
 * failed or closed, or an answer said `Connection: close`: the next request goes on a new connection, as
 * any HTTP client's would.
 */
function openConnection(host: string, port: number) {
  const socket: Socket = connect({ host, port, noDelay: true });
  let buffer: Buffer = Buffer.alloc(0);
  let pending: ((outcome: Outcome) => void) | undefined;
  let open = true;
  const settle = (outcome: Outcome) => {
    const resolve = pending;
    pending = undefined;
    resolve?.(outcome);
  };
  const fail = (code: string) => {
    open = false;
    socket.destroy();
    settle({ error: code });
  };
  socket.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
  socket.on('close', () => fail('CLOSED'));
  // Settles on the connect or on its failure (which the first request then reports).
  const ready = new Promise<void>((resolve) => {
    socket.once('connect', resolve);
    socket.once('close', resolve);
  });
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
    const status = Number(head.slice(9, 12));
    if (/\r\nconnection:\s*close/i.test(head)) open = false;
    const retryAfter = status >= 500 ? (/\r\nretry-after:\s*(\S+)/i.exec(head)?.[1] ?? null) : null;
    settle({ status, body, retryAfter });
  });
  return {
    ready,
    get open() {
      return open;
    },
    send(request: Buffer): Promise<Outcome> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => fail('TIMEOUT'), REQUEST_TIMEOUT_MS);
        pending = (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        };
        socket.write(request);
      });
    },
    close: () => {
      open = false;
      socket.destroy();
    },
  };
}

/** The answer's JSON body; {} for one that is not JSON (the bench counts it by its status). */
function parseJson(body: string): { ticketId?: string; message?: string } {
  try {
    return JSON.parse(body) as { ticketId?: string; message?: string };
  } catch {
    return {};
  }
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
    retryAfter: new Array<string | null>(plan.length).fill(null),
    error: new Array<string | null>(plan.length).fill(null),
    durationMs: 0,
  };
  const clients = Array.from({ length: Number(connectionsArg) }, (_, n) => {
    const target = targets[n % targets.length];
    const open = () => openConnection(target.hostname, Number(target.port));
    return { open, connection: open(), queue: queues[n % targets.length] };
  });
  // Connected before the clock starts, as every later connection is (a reconnect is a failure's cost).
  await Promise.all(clients.map((client) => client.connection.ready));
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      const { queue } = client;
      while (queue.next < queue.indexes.length) {
        const index = queue.indexes[queue.next++];
        if (!client.connection.open) client.connection = client.open();
        const sentAt = performance.now();
        const outcome = await client.connection.send(encoded[index]);
        const endedAt = performance.now();
        results.latencyMs[index] = endedAt - sentAt;
        results.endMs[index] = endedAt - started;
        if ('error' in outcome) {
          results.status[index] = -1;
          results.error[index] = outcome.error;
          continue;
        }
        results.status[index] = outcome.status;
        results.retryAfter[index] = outcome.retryAfter;
        const parsed = parseJson(outcome.body);
        if (outcome.status === 200 || outcome.status === 201) {
          results.ticketId[index] = parsed.ticketId ?? null;
        } else {
          results.message[index] = parsed.message ?? null;
        }
      }
      client.connection.close();
    }),
  );
  results.durationMs = performance.now() - started;
  writeFileSync(resultsFile, JSON.stringify(results));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
