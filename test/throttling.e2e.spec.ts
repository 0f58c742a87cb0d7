import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent, issue } from './support/fixtures';
import { parseExposition, valueOf } from './support/exposition';
import { waitUntil } from './support/service-process';

const TOO_MANY = { statusCode: 429, message: '요청이 너무 많습니다. 잠시 후 다시 시도해주세요.' };

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { ticketId?: string; message?: string };
}

/** A request from `address` (the test is the one proxy in front: TRUST_PROXY=1). */
async function send(
  url: string,
  address: string,
  path: string,
  init: { body?: object; key?: string } = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, {
    method: init.body ? 'POST' : 'GET',
    headers: {
      'x-forwarded-for': address,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.key ? { 'idempotency-key': init.key } : {}),
    },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Answer['body'],
  };
}

async function counter(url: string, name: string, labels: Record<string, string>) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return valueOf(parseExposition(text), name, labels);
}
const deferredCount = (url: string) =>
  counter(url, 'golden_ticket_deferred_requests_total', { scope: 'ip' });

/** What became of a request by the time the server had taken it: its answer, or deferred (still waiting). */
interface Arrival {
  answer?: Answer;
  deferred?: Promise<Answer>;
}

/**
 * Sends a request and returns once the server has taken it — answered, or counted as deferred — so the
 * next one arrives after it: the test fixes the arrival order. The test clock stands still unless moved,
 * so a deferred request waits until the test moves it to its place.
 */
async function arrive(url: string, sending: () => Promise<Answer>): Promise<Arrival> {
  const before = await deferredCount(url);
  let answer: Answer | undefined;
  const pending = sending().then((settled) => (answer = settled));
  let deferredNow = before;
  await waitUntil(
    async () => answer !== undefined || (deferredNow = await deferredCount(url)) > before,
    20_000,
    () => 'the request was neither answered nor deferred',
  );
  return answer !== undefined && deferredNow === before ? { answer } : { deferred: pending };
}

/** Only the status and Retry-After of what `arrive` saw ('deferred' for a request still waiting). */
const seen = (arrival: Arrival) =>
  arrival.answer
    ? arrival.answer.status === 429
      ? `429 after ${arrival.answer.retryAfter}`
      : String(arrival.answer.status)
    : 'deferred';

/**
 * Sends `requests` at once and returns once the server has taken every one: `deferred` of them wait for
 * their places, the others are answered (`answered`). `all`: every answer, once the test moved the clock.
 */
async function sendAll(
  url: string,
  requests: Array<() => Promise<Answer>>,
  deferred: number,
): Promise<{ answered: Answer[]; all: Promise<Answer[]> }> {
  const before = await deferredCount(url);
  const answered: Answer[] = [];
  const all = requests.map((sending) =>
    sending().then((answer) => {
      answered.push(answer);
      return answer;
    }),
  );
  await waitUntil(
    async () =>
      answered.length === requests.length - deferred &&
      (await deferredCount(url)) - before === deferred,
    20_000,
    () => `not ${deferred} deferred and the rest answered (${answered.length} answered)`,
  );
  return { answered: [...answered], all: Promise.all(all) };
}

describe('the per-address line (ordered admission), one instance, the test clock standing still', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        TRUST_PROXY: '1',
        // Two places a second (one every 500 ms), two at once for an idle address; wait up to 1 s.
        THROTTLE_IP_LIMIT: '2',
        THROTTLE_IP_TTL_MS: '1000',
        THROTTLE_IP_MAX_DELAY_MS: '1000',
        THROTTLE_IP_RESERVATION_GRACE_MS: '10000',
        THROTTLE_USER_LIMIT: '3',
        THROTTLE_USER_TTL_MS: '60000',
      },
    });
  });
  afterAll(() => t.close());

  const ticket = (eventKey: string, address: string, userId: number, key?: string) => () =>
    send(t.url, address, `/events/${eventKey}/tickets`, { body: { userId }, key });
  const holders = async (eventKey: string) =>
    (
      await t
        .db('tickets')
        .join('events', 'events.id', 'tickets.eventId')
        .where('events.eventKey', eventKey)
        .orderBy('tickets.userId')
        .select('tickets.userId')
    ).map((row: { userId: number }) => row.userId);

  it('gives an idle address its window at once, holds the next for their places, refuses past the bound', async () => {
    const address = '198.51.100.1';
    // 2 at once, 2 held (places 500 and 1000 ms away), 3 refused (the next place is 1500 ms away).
    const storm = await sendAll(
      t.url,
      Array.from({ length: 7 }, () => () => send(t.url, address, '/events')),
      2,
    );
    expect(storm.answered.map((answer) => answer.status).sort()).toEqual([200, 200, 429, 429, 429]);
    const refused = storm.answered.filter((answer) => answer.status === 429);
    for (const answer of refused) expect(answer.body).toEqual(TOO_MANY);
    // A refused read takes no place: each is told of the next one (1500 ms away), aimed at the middle of
    // the bound before it (1500 − 500 ms → 1 s).
    expect(refused.map((answer) => answer.retryAfter)).toEqual(['1', '1', '1']);

    // The two health probes are never held or refused; other paths that merely start like them are.
    for (let i = 0; i < 5; i++) await request(t.url).get('/health/live').expect(200);
    for (let i = 0; i < 5; i++) await request(t.url).get('/health/ready').expect(200);
    expect((await send(t.url, address, '/healthz')).status).toBe(429);

    t.clock.advance(1_000);
    expect((await storm.all).map((answer) => answer.status).sort()).toEqual([
      200, 200, 200, 200, 429, 429, 429,
    ]);
    // The refused reads kept no place: a window later the address is idle again.
    t.clock.advance(1_000);
    expect((await send(t.url, address, '/events')).status).toBe(200);
    expect((await send(t.url, address, '/events')).status).toBe(200);
  });

  it('lets the first arrivals win in arrival order; a refused request resent keeps its place against fresh arrivals', async () => {
    const { eventKey } = await createEvent(t.url, { totalQuantity: 6 });
    const address = '203.0.113.10';
    const user = (userId: number) => arrive(t.url, ticket(eventKey, address, userId));
    const first: Arrival[] = [];
    for (let userId = 1; userId <= 10; userId++) first.push(await user(userId));
    // Places every 500 ms: users 1-2 at once, 3-4 held (500, 1000 ms), 5-10 refused and kept in line.
    expect(first.map(seen)).toEqual([
      '201',
      '201',
      'deferred',
      'deferred',
      '429 after 1',
      '429 after 2',
      '429 after 2',
      '429 after 3',
      '429 after 3',
      '429 after 4',
    ]);
    // An early resend is told its own place again and takes no new one: user 11 is next after user 10.
    expect(seen(await user(5))).toBe('429 after 1');
    expect(seen(await user(11))).toBe('429 after 4');

    t.clock.advance(1_000);
    expect((await first[2].deferred!).status).toBe(201);
    expect((await first[3].deferred!).status).toBe(201);

    // Resent latest first, with a fresh arrival among them: the ones within the bound wait for their places.
    const resent = [await user(8), await user(7), await user(6), await user(12), await user(5)];
    expect(resent.map(seen)).toEqual([
      '429 after 2',
      '429 after 1',
      'deferred',
      '429 after 4',
      'deferred',
    ]);
    t.clock.advance(1_000);
    // User 5's place (1500 ms) comes before user 6's (2000 ms), though user 6 was resent first.
    expect((await resent[4].deferred!).status).toBe(201);
    expect((await resent[2].deferred!).status).toBe(201);
    expect(await holders(eventKey)).toEqual([1, 2, 3, 4, 5, 6]);

    // Their places come, and issuance answers them: sold out.
    t.clock.advance(1_000);
    expect((await ticket(eventKey, address, 7)()).status).toBe(409);
    expect((await ticket(eventKey, address, 8)()).status).toBe(409);
    expect(await holders(eventKey)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('lets duplicates of a waiting request share its place, whatever their keys', async () => {
    // User ids of this test's own: the per-user budget (3 a minute) is not what it is about.
    const { eventKey } = await createEvent(t.url, { totalQuantity: 10 });
    const address = '203.0.113.11';
    const arrivals = [
      await arrive(t.url, ticket(eventKey, address, 101)),
      await arrive(t.url, ticket(eventKey, address, 102)),
      await arrive(t.url, ticket(eventKey, address, 103, 'user-103-first')),
      await arrive(t.url, ticket(eventKey, address, 103, 'user-103-first')),
      await arrive(t.url, ticket(eventKey, address, 103, 'user-103-again')),
      // Had the copies taken places of their own, user 4's would be past the bound.
      await arrive(t.url, ticket(eventKey, address, 104)),
    ];
    expect(arrivals.map(seen)).toEqual([
      '201',
      '201',
      'deferred',
      'deferred',
      'deferred',
      'deferred',
    ]);
    t.clock.advance(1_000);
    const answers = await Promise.all(arrivals.slice(2).map((arrival) => arrival.deferred!));
    expect(answers.map((answer) => answer.status)).toEqual([201, 201, 200, 201]);
    expect(new Set(answers.slice(0, 3).map((answer) => answer.body.ticketId)).size).toBe(1);
    expect(await holders(eventKey)).toEqual([101, 102, 103, 104]);
  });

  it('lets a reservation lapse a grace after its place: that user then goes to the back', async () => {
    const { eventKey } = await createEvent(t.url, { totalQuantity: 100 });
    const address = '203.0.113.12';
    const arrivals: Arrival[] = [];
    // 40 places, 20 s of the line; user 205's is at 1.5 s.
    for (let userId = 201; userId <= 240; userId++) {
      arrivals.push(await arrive(t.url, ticket(eventKey, address, userId)));
    }
    expect(seen(arrivals[4])).toBe('429 after 1');
    // Past user 205's place and its 10 s grace, while the line still runs to 20 s.
    t.clock.advance(1_500 + 10_000 + 500);
    const again = await ticket(eventKey, address, 205)();
    expect(again.status).toBe(429);
    // Behind user 240: its place 19.5 s, 7.5 s away, aimed 0.5 s before. Its old place is gone.
    expect(again.retryAfter).toBe('7');
    await Promise.all(arrivals.flatMap((arrival) => arrival.deferred ?? []));
  });

  it('keeps the ticket route and the other routes in lines of their own', async () => {
    const { eventKey } = await createEvent(t.url, { totalQuantity: 10 });
    const address = '203.0.113.13';
    expect((await send(t.url, address, '/events')).status).toBe(200);
    expect((await send(t.url, address, '/events')).status).toBe(200);
    const read = await arrive(t.url, () => send(t.url, address, '/events'));
    expect(seen(read)).toBe('deferred');
    expect((await ticket(eventKey, address, 301)()).status).toBe(201);
    expect((await ticket(eventKey, address, 302)()).status).toBe(201);
    t.clock.advance(1_000);
    expect((await read.deferred!).status).toBe(200);
  });

  it('still refuses a client looping under one userId with the per-user budget: its place lets it through the line, not past its budget', async () => {
    const { eventKey } = await createEvent(t.url, { totalQuantity: 10 });
    const address = '203.0.113.14';
    const throttled = (scope: string) =>
      counter(t.url, 'golden_ticket_throttled_requests_total', { scope });
    const [userBefore, ipBefore] = [await throttled('user'), await throttled('ip')];
    // Two at once; the six others on the one place its user and event then hold.
    const loop = await sendAll(
      t.url,
      Array.from({ length: 8 }, () => ticket(eventKey, address, 77)),
      6,
    );
    t.clock.advance(1_000);
    const statuses = (await loop.all).map((answer) => answer.status).sort();
    // Three within the user's budget of 3, five refused by it; none by the line.
    expect(statuses).toEqual([200, 200, 201, 429, 429, 429, 429, 429]);
    expect((await throttled('user')) - userBefore).toBe(5);
    expect((await throttled('ip')) - ipBefore).toBe(0);
    expect(await holders(eventKey)).toEqual([77]);
  });

  it('sheds before any database work: a refused POST stores nothing', async () => {
    const address = '203.0.113.15';
    const keysBefore = Number((await t.db('idempotencyKeys').count({ n: '*' }))[0].n);
    const storm = await sendAll(
      t.url,
      Array.from(
        { length: 7 },
        (_, i) => () =>
          send(t.url, address, '/events/no-such-event/tickets', {
            body: { userId: 1_000 + i },
            key: `refused-${i}`,
          }),
      ),
      2,
    );
    t.clock.advance(1_000);
    const answers = await storm.all;
    expect(answers.map((answer) => answer.status).sort()).toEqual([
      404, 404, 404, 404, 429, 429, 429,
    ]);
    // The four answered 404s are kept under their keys; the three refused left nothing.
    const keysAfter = Number((await t.db('idempotencyKeys').count({ n: '*' }))[0].n);
    expect(keysAfter - keysBefore).toBe(4);
    const refusedKeys = answers.flatMap((answer, i) =>
      answer.status === 429 ? [`refused-${i}`] : [],
    );
    expect(await t.db('idempotencyKeys').whereIn('idempotencyKey', refusedKeys)).toEqual([]);
  });
});

describe.each([
  ['a hop count', '1'],
  ['the proxy addresses', '127.0.0.1/8, ::1'],
])('behind one proxy, trusted by %s (TRUST_PROXY=%s)', (_, trustProxy) => {
  let t: TestApp;

  beforeAll(async () => {
    // 3 a minute: a place 20 s away is past the delay bound, so the fourth is refused.
    t = await startTestApp({
      env: { TRUST_PROXY: trustProxy, THROTTLE_IP_LIMIT: '3', THROTTLE_IP_TTL_MS: '60000' },
    });
  });
  afterAll(() => t.close());

  // The test stands for the proxy: it connects from 127.0.0.1 and appends the client it saw.
  const viaProxy = (forged: string, client: string) =>
    request(t.url).get('/events').set('X-Forwarded-For', `${forged}, ${client}`);

  it('counts a client that forges the leftmost address against its one real budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await viaProxy(`10.9.8.${i}`, '203.0.113.7')).status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Another client behind the same proxy has a budget of its own.
    await viaProxy('10.9.8.1', '203.0.113.8').expect(200);
  });
});

describe('per userId on ticket issuance', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ env: { THROTTLE_USER_LIMIT: '2', THROTTLE_USER_TTL_MS: '60000' } });
  });
  afterAll(() => t.close());

  it('gives each user a budget of its own', async () => {
    const event = await createEvent(t.url);
    await issue(t.url, event.eventKey, 1).expect(201);
    await issue(t.url, event.eventKey, 1).expect(200);
    const refused = await issue(t.url, event.eventKey, 1).expect(429);
    expect(refused.body).toEqual(TOO_MANY);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(1);
    await issue(t.url, event.eventKey, 2).expect(201);
    // Reads are not under the issuance budget.
    await request(t.url).get('/users/1/tickets').expect(200);
  });
});
