import fc from 'fast-check';
import request from 'supertest';
import { createEventSchema, setEventActiveSchema } from '../src/events/event.schemas';
import { issueTicketSchema } from '../src/tickets/ticket.schemas';
import { startTestApp, TestApp } from './support/test-app';
import { createEvent } from './support/fixtures';
import { snapshotDatabase } from './support/snapshot';

/** Header values Node will send: tab, printable ASCII, and Latin-1 (outside what the service accepts). */
const headerValue = fc
  .array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })), {
    maxLength: 300,
  })
  .map((codes) => String.fromCharCode(...codes));
const pathSegment = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.integer().map(String),
  fc.constant('..'),
);
const body = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.record(
    {
      eventKey: fc.anything({ maxDepth: 1 }),
      name: fc.anything({ maxDepth: 1 }),
      totalQuantity: fc.oneof(fc.integer(), fc.double(), fc.string()),
      dailyLimit: fc.oneof(fc.integer(), fc.constant(null), fc.string()),
      startAt: fc.oneof(
        fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'x' : d.toISOString())),
        fc.string(),
      ),
      endAt: fc.oneof(fc.string(), fc.integer()),
      userId: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.bigInt().map(String)),
      isActive: fc.anything({ maxDepth: 0 }),
    },
    { requiredKeys: [] },
  ),
);
const rawJson = fc.oneof(fc.json(), fc.string({ maxLength: 200 }));
const headers = fc.record(
  { 'idempotency-key': headerValue, 'x-request-id': headerValue, authorization: headerValue },
  { requiredKeys: [] },
);

/** Sends any value as the JSON body, as text (superagent only serializes objects itself). */
const withJsonBody = (call: request.Test, value: unknown) =>
  call.set('content-type', 'application/json').send(JSON.stringify(value) ?? '');

/** Thousands of random requests against every endpoint: never a 5xx, always the error shape for a 4xx. */
describe('hostile input (property-based)', () => {
  let t: TestApp;
  let eventKey: string;
  const succeeded: string[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    eventKey = (await createEvent(t.url)).eventKey;
  });
  afterAll(() => t.close());

  async function send(call: request.Test, sentHeaders: Record<string, string>): Promise<void> {
    for (const [name, value] of Object.entries(sentHeaders)) call.set(name, value);
    const response = await call;
    expect(response.status).toBeLessThan(500);
    if (response.status >= 400) {
      expect(response.body).toEqual({ statusCode: response.status, message: expect.any(String) });
      expect((response.body as { message: string }).message.length).toBeGreaterThan(0);
    } else {
      succeeded.push(`${call.method} ${call.url} ${response.status}`);
    }
  }

  it('keeps every answer designed, and invalid input changes nothing', async () => {
    const before = await snapshotDatabase(t.db);
    const invalid =
      (schema: { validate(value: unknown): { error?: unknown } }) => (value: unknown) =>
        schema.validate(value).error !== undefined;

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          body.filter(invalid(createEventSchema)).map((b) => ({ kind: 'create' as const, b })),
          fc
            .tuple(
              fc.oneof(pathSegment, fc.constant(eventKey)),
              body.filter(invalid(issueTicketSchema)),
            )
            .map(([key, b]) => ({ kind: 'issue' as const, key, b })),
          fc
            .tuple(pathSegment, body)
            .map(([key, b]) => ({ kind: 'patch-unknown' as const, key, b })),
          body.filter(invalid(setEventActiveSchema)).map((b) => ({ kind: 'patch' as const, b })),
          pathSegment.map((key) => ({ kind: 'get-event' as const, key })),
          pathSegment.map((id) => ({ kind: 'user-tickets' as const, id })),
          rawJson.map((text) => ({ kind: 'raw' as const, text })),
        ),
        headers,
        async (input, sentHeaders) => {
          const http = request(t.url);
          switch (input.kind) {
            case 'create':
              return send(withJsonBody(http.post('/events'), input.b), sentHeaders);
            case 'issue': {
              const path = `/events/${encodeURIComponent(input.key)}/tickets`;
              return send(withJsonBody(http.post(path), input.b), sentHeaders);
            }
            case 'patch-unknown': {
              const path = `/events/unknown-${encodeURIComponent(input.key)}`;
              return send(withJsonBody(http.patch(path), input.b), sentHeaders);
            }
            case 'patch':
              return send(withJsonBody(http.patch(`/events/${eventKey}`), input.b), sentHeaders);
            case 'get-event':
              return send(http.get(`/events/${encodeURIComponent(input.key)}`), sentHeaders);
            case 'user-tickets':
              return send(http.get(`/users/${encodeURIComponent(input.id)}/tickets`), sentHeaders);
            case 'raw':
              return send(
                http
                  .post(`/events/${eventKey}/tickets`)
                  .set('content-type', 'application/json')
                  .send(input.text),
                sentHeaders,
              );
          }
        },
      ),
      { numRuns: 2500 },
    );

    const after = await snapshotDatabase(t.db);
    expect(after.events).toEqual(before.events);
    expect(after.tickets).toEqual(before.tickets);
    expect(after.eventDailyCounts).toEqual(before.eventDailyCounts);
    // Only answers of requests that ran are kept for their keys: never a refusal of bad input, never a 5xx.
    const kept = after.idempotencyKeys as Array<{ responseStatus: number }>;
    expect(kept.filter((row) => row.responseStatus === 400 || row.responseStatus >= 500)).toEqual(
      [],
    );
    // Raw JSON that happened to be a valid issuance body may have issued a ticket: none did here, or it shows.
    expect(succeeded.filter((line) => !line.startsWith('GET'))).toEqual([]);
  });
});
