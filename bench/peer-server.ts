/**
 * The peer: what a user would build instead of this service — a Fastify route and one Redis Lua script over a
 * holders hash, with no durability, no Idempotency-Key, no logs, no throttle:
 * `node peer-server.js <port> <redisUrl> <keyPrefix>`.
 * `POST /events` takes `{ eventKey, totalQuantity }` (kept in memory); `POST /events/:eventKey/tickets` answers
 * 200 with the ticket the user holds, 201 with a new one while some are left, else 409 with the service's own
 * sold-out body (the same bytes). Redis keys: `<keyPrefix>:<eventKey>:holders` and `…:issued`.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import Redis from 'ioredis';

const [port, redisUrl, prefix] = process.argv.slice(2);

const ISSUE = `
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then return {200, held} end
local issued = tonumber(redis.call('GET', KEYS[2]) or '0')
if issued < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('INCR', KEYS[2])
  return {201, ARGV[3]}
end
return {409}
`;
const SOLD_OUT = JSON.stringify({ statusCode: 409, message: '티켓이 모두 소진되었습니다.' });
const NOT_FOUND = JSON.stringify({ statusCode: 404, message: '존재하지 않는 이벤트입니다.' });
const JSON_TYPE = 'application/json; charset=utf-8';

type IssueScript = (
  holders: string,
  issued: string,
  userId: string,
  total: string,
  ticket: string,
) => Promise<[number, string?]>;

const redis = new Redis(redisUrl);
redis.defineCommand('issueTicket', { numberOfKeys: 2, lua: ISSUE });
const issueTicket = (redis as unknown as { issueTicket: IssueScript }).issueTicket.bind(redis);
const totals = new Map<string, string>();

const app = Fastify();
app.post<{ Body: { eventKey: string; totalQuantity: number } }>(
  '/events',
  {
    schema: {
      body: {
        type: 'object',
        required: ['eventKey', 'totalQuantity'],
        properties: { eventKey: { type: 'string' }, totalQuantity: { type: 'integer' } },
      },
    },
  },
  async (request, reply) => {
    totals.set(request.body.eventKey, String(request.body.totalQuantity));
    return reply.status(201).send({ eventKey: request.body.eventKey });
  },
);
app.post<{ Params: { eventKey: string }; Body: { userId: number } }>(
  '/events/:eventKey/tickets',
  {
    schema: {
      body: {
        type: 'object',
        required: ['userId'],
        properties: { userId: { type: 'integer', minimum: 1 } },
      },
    },
  },
  async (request, reply) => {
    const { eventKey } = request.params;
    const total = totals.get(eventKey);
    if (total === undefined) return reply.status(404).type(JSON_TYPE).send(NOT_FOUND);
    const userId = request.body.userId;
    const ticket = JSON.stringify({
      ticketId: randomUUID(),
      userId,
      eventKey,
      issuedAt: new Date().toISOString().slice(0, 19) + 'Z',
    });
    const [status, body] = await issueTicket(
      `${prefix}:${eventKey}:holders`,
      `${prefix}:${eventKey}:issued`,
      String(userId),
      total,
      ticket,
    );
    return reply
      .status(status)
      .type(JSON_TYPE)
      .send(status === 409 ? SOLD_OUT : body);
  },
);
app.listen({ port: Number(port), host: '127.0.0.1' }).then(
  () => process.stdout.write('ready\n'),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
process.once('SIGTERM', () => {
  void app.close().then(() => redis.quit().then(() => process.exit(0)));
});
