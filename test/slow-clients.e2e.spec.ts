import { readFileSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseExposition, valueOf } from './support/exposition';
import { OPEN_NOW, createEvent, issue } from './support/fixtures';
import { servicesOnFreshDatabase } from './support/service-fixture';
import { STUCK_AFTER_MS, ServiceProcess, waitUntil } from './support/service-process';

const REQUEST_TIMEOUT_MS = 2_000;
const HEADERS_TIMEOUT_MS = 1_000;
const MAX_CONNECTIONS = 600;
/** Node checks the timeouts on this period (src/http/http-server.ts): a 408 may come this much later. */
const CHECK_INTERVAL_MS = Math.min(1_000, Math.ceil(HEADERS_TIMEOUT_MS / 2));

/** The longest the service's event loop was held since the previous call (prom-client resets it per scrape). */
async function serviceLoopDelayMs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return valueOf(parseExposition(text), 'nodejs_eventloop_lag_max_seconds') * 1000;
}

/**
 * Runs `during` and measures how late things happened meanwhile: the longest the service's event loop and
 * this process's were held. A timeout is noticed on the service's loop and its answer read on this one, so
 * on a busy machine a 408 comes about that much later; the bounds below add it instead of a fixed window.
 */
async function measuredDelayMs<T>(url: string, during: () => Promise<T>): Promise<[T, number]> {
  await serviceLoopDelayMs(url);
  const ours = monitorEventLoopDelay({ resolution: 10 });
  ours.enable();
  const result = await during();
  ours.disable();
  // The service's loop may be held twice on a request's way, accepting a burst and answering it.
  return [result, 2 * (await serviceLoopDelayMs(url)) + ours.max / 1e6];
}

/** The latest a request timed out after `timeoutMs` may be closed, given the delay measured meanwhile. */
const latestCloseMs = (timeoutMs: number, delayMs: number) =>
  timeoutMs + CHECK_INTERVAL_MS + delayMs + 250;

interface RawOutcome {
  /** The raw bytes the server sent, if any. */
  received: string;
  /** From the client's connect call until the connection was established, and until it was closed. */
  connectedAfterMs: number;
  closedAfterMs: number;
}

/** 408s the clients of this file received, to compare with the service's log. */
let timeoutsReceived = 0;

/** Opens a connection, runs `talk` on it, and resolves with what came back when the server closed it. */
function rawClient(port: number, talk: (socket: Socket) => void): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const startedAt = Date.now();
    const socket = connect({ port, host: '127.0.0.1' });
    let received = '';
    let connectedAfterMs = 0;
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (received.startsWith('HTTP/1.1 408 ')) timeoutsReceived += 1;
      resolve({ received, connectedAfterMs, closedAfterMs: Date.now() - startedAt });
    });
    socket.on('connect', () => {
      connectedAfterMs = Date.now() - startedAt;
      talk(socket);
    });
  });
}

/**
 * A body sent one byte every 100 ms: it would take two minutes to arrive. The client stops sending once the
 * timeout has passed and waits for the answer: a byte that reaches the service as it closes the socket
 * makes the kernel reset the connection, and the reset throws away the 408 before the client reads it
 * (seen on a busy machine, where bytes wait unread longer).
 */
function slowUpload(socket: Socket): void {
  const body = JSON.stringify({ userId: 1, padding: 'x'.repeat(1_200) });
  socket.write(
    `POST /events/slow/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`,
  );
  let sent = 0;
  const startedAt = Date.now();
  const timer = setInterval(() => {
    if (socket.destroyed || Date.now() - startedAt >= REQUEST_TIMEOUT_MS) {
      return clearInterval(timer);
    }
    socket.write(body[sent++]);
  }, 100);
  socket.on('close', () => clearInterval(timer));
}

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as unknown;
const TIMED_OUT = {
  statusCode: 408,
  message: '요청을 제시간에 다 받지 못했습니다. 다시 시도해주세요.',
};

/**
 * Slow and hostile clients against the production build: bodies that trickle in, sockets that never send,
 * more sockets than the service accepts, uploads dropped halfway. Each is bounded in time and memory, is
 * answered in the error shape where anything can be answered, and is logged once at info.
 */
describe('slow and hostile clients', () => {
  const services = servicesOnFreshDatabase();
  let service: ServiceProcess;
  let port: number;
  let eventKey: string;

  beforeAll(async () => {
    service = await services.start({
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      TRUST_PROXY: 'true',
    });
    port = Number(new URL(service.url).port);
    eventKey = (await createEvent(service.url, { totalQuantity: 10_000, ...OPEN_NOW })).eventKey;
  });

  it('answers a body that trickles in with 408 in the error shape, and closes', async () => {
    const [outcome, delayMs] = await measuredDelayMs(service.url, () =>
      rawClient(port, slowUpload),
    );
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(bodyOf(outcome.received)).toEqual(TIMED_OUT);
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(outcome.closedAfterMs).toBeLessThan(
      outcome.connectedAfterMs + latestCloseMs(REQUEST_TIMEOUT_MS, delayMs),
    );
  });

  it('holds 500 trickling uploads in bounded memory while normal requests are answered', async () => {
    const before = rssMb(service.child.pid!);
    const uploads = Array.from({ length: 500 }, () => rawClient(port, slowUpload));
    await new Promise((resolve) => setTimeout(resolve, REQUEST_TIMEOUT_MS / 2));
    const during = rssMb(service.child.pid!);
    const normal = await Promise.all(
      Array.from({ length: 20 }, (_, i) => issue(service.url, eventKey, 1_000 + i)),
    );
    expect(normal.map((r) => r.status)).toEqual(Array(20).fill(201));
    // Each is answered 408 once its time is up, never before. How soon after depends on how fast the
    // machine works through 500 at once; the single upload above bounds the delay of one.
    for (const outcome of await Promise.all(uploads)) {
      expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    }
    // Tens of KB per connection at most, not the hundreds it took without a timeout.
    expect(during - before).toBeLessThan(64);
  });

  it('closes sockets that never send a byte, and refuses connections past the cap', async () => {
    const [outcomes, delayMs] = await measuredDelayMs(service.url, () =>
      Promise.all(Array.from({ length: MAX_CONNECTIONS + 50 }, () => rawClient(port, () => {}))),
    );
    const refused = outcomes.filter((o) => o.received === '');
    const timedOut = outcomes.filter((o) => o.received.startsWith('HTTP/1.1 408 '));
    expect(refused.length + timedOut.length).toBe(outcomes.length);
    // All were open at once when every one connected before the first timeout closed one: then 50 found
    // the service full. A machine too busy to open them within the headers timeout frees places first.
    const firstTimeout = Math.min(...timedOut.map((o) => o.closedAfterMs));
    if (outcomes.every((o) => o.connectedAfterMs < firstTimeout)) {
      expect(refused.length).toBeGreaterThanOrEqual(50);
    }
    for (const outcome of timedOut) {
      expect(bodyOf(outcome.received)).toEqual(TIMED_OUT);
      expect(outcome.closedAfterMs).toBeLessThan(
        outcome.connectedAfterMs + latestCloseMs(HEADERS_TIMEOUT_MS, delayMs),
      );
    }
    const warnings = service.logs().filter((e) => String(e.msg).startsWith('connection refused'));
    if (refused.length > 0) {
      expect(warnings[0]).toMatchObject({ level: 40, maxConnections: MAX_CONNECTIONS });
    }
    // Once they are gone, new clients are served.
    await issue(service.url, eventKey, 2_000).expect(201);
  });

  it('logs an upload dropped halfway at info, once', async () => {
    const before = service.logs().length;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        rawClient(port, (socket) => {
          socket.write(
            `POST /events/${eventKey}/tickets HTTP/1.1\r\nHost: x\r\n` +
              `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"userId":`,
          );
          setTimeout(() => socket.destroy(), 200);
        }),
      ),
    );
    const dropped = () =>
      service
        .logs()
        .slice(before)
        .filter((e) => e.msg === 'client closed the connection before the answer');
    await waitUntil(
      () => Promise.resolve(dropped().length >= 20),
      STUCK_AFTER_MS,
      () => `${dropped().length} of 20 dropped uploads logged`,
    );
    const lines = service.logs().slice(before);
    expect(dropped()).toHaveLength(20);
    expect(lines.every((e) => e.level === 30)).toBe(true);
  });

  it('logged each timeout once, at info, nothing at error, and warned that TRUST_PROXY=true trusts all', async () => {
    const logged = () => service.logs().filter((e) => e.msg === 'request timed out').length;
    // Lines reach this process through a pipe, possibly after the clients saw their answers.
    await waitUntil(
      () => Promise.resolve(logged() >= timeoutsReceived),
      STUCK_AFTER_MS,
      () => `${logged()} timeouts logged, ${timeoutsReceived} received`,
    );
    const entries = service.logs();
    expect(entries).toHaveLength(service.lines.length);
    expect(entries.filter((e) => Number(e.level) >= 50)).toEqual([]);
    const timeouts = entries.filter((e) => e.msg === 'request timed out');
    expect(timeouts.every((e) => e.level === 30)).toBe(true);
    expect(timeouts).toHaveLength(timeoutsReceived);
    expect(timeoutsReceived).toBeGreaterThan(501);
    expect(
      entries.some((e) => e.level === 40 && String(e.msg).startsWith('TRUST_PROXY=true')),
    ).toBe(true);
  });
});
