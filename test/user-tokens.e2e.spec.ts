import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import * as jose from 'jose';
import request from 'supertest';
import { TicketIssuanceService } from '../src/tickets/ticket-issuance.service';
import { createEvent } from './support/fixtures';
import { snapshotDatabase } from './support/snapshot';
import { startTestApp, TestApp } from './support/test-app';

const SECRET = 'a-shared-hs256-secret-of-32-bytes-at-least';
const ISSUER = 'https://id.example';
const AUDIENCE = 'golden-ticket';

const MISSING = '로그인이 필요합니다. Authorization: Bearer <토큰> 헤더를 보내주세요.';
const INVALID = '인증 토큰이 유효하지 않습니다. 다시 로그인해주세요.';
const EXPIRED = '인증 토큰이 만료되었습니다. 다시 로그인해주세요.';
const OTHER_USER = '다른 사용자의 티켓은 요청하거나 조회할 수 없습니다.';

/** An HS256 token as the identity provider mints it; `claims` override the defaults. */
function hs256(claims: jose.JWTPayload & { sub?: string }, secret = SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
}

/** An unsigned token (`alg: none`), as an attacker would send it. */
function unsigned(claims: jose.JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: ISSUER, aud: AUDIENCE, ...claims })}.`;
}

describe('end-user tokens (HS256)', () => {
  let t: TestApp;
  let eventKey: string;

  beforeAll(async () => {
    t = await startTestApp({
      env: {
        USER_JWT_SECRET: SECRET,
        USER_JWT_ISSUER: ISSUER,
        USER_JWT_AUDIENCE: AUDIENCE,
        THROTTLE_USER_LIMIT: '3',
        THROTTLE_USER_TTL_MS: '60000',
        // The default per-IP budget with tokens on (a flood guard, not fairness).
        THROTTLE_IP_LIMIT: undefined,
      },
    });
    eventKey = (await createEvent(t.url, { totalQuantity: 10_000 })).eventKey;
  });
  afterAll(() => t.close());

  const ask = (userId: number, authorization?: string) => {
    const call = request(t.url).post(`/events/${eventKey}/tickets`).send({ userId });
    return authorization === undefined ? call : call.set('Authorization', authorization);
  };

  it('issues to the user its token proves, and lists that user’s tickets', async () => {
    const token = await hs256({ sub: '42' });
    const issued = await ask(42, `Bearer ${token}`).expect(201);
    expect(issued.body).toMatchObject({ userId: 42, eventKey });
    const listed = await request(t.url)
      .get('/users/42/tickets')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(listed.body.map((ticket: { ticketId: string }) => ticket.ticketId)).toEqual([
      issued.body.ticketId,
    ]);
  });

  it.each([
    ['no header', () => Promise.resolve(undefined), MISSING],
    ['another scheme', () => hs256({ sub: '7' }).then((token) => `Basic ${token}`), MISSING],
    ['a malformed token', () => Promise.resolve('Bearer not-a-jwt'), INVALID],
    [
      'a bad signature',
      () => hs256({ sub: '7' }, `${SECRET}-other`).then((t) => `Bearer ${t}`),
      INVALID,
    ],
    ['alg: none', () => Promise.resolve(`Bearer ${unsigned({ sub: '7' })}`), INVALID],
    [
      'another issuer',
      () => hs256({ sub: '7', iss: 'https://evil.example' }).then((t) => `Bearer ${t}`),
      INVALID,
    ],
    [
      'another audience',
      () => hs256({ sub: '7', aud: 'other-app' }).then((t) => `Bearer ${t}`),
      INVALID,
    ],
    [
      'an expired token',
      () => hs256({ sub: '7', exp: Math.floor(Date.now() / 1000) - 60 }).then((t) => `Bearer ${t}`),
      EXPIRED,
    ],
    ['no subject', () => hs256({}).then((t) => `Bearer ${t}`), INVALID],
    ['no expiry', () => hs256({ sub: '7', exp: undefined }).then((t) => `Bearer ${t}`), INVALID],
  ])(
    'refuses %s with 401, claims nothing and costs no database work',
    async (_, header, message) => {
      const before = await snapshotDatabase(t.db);
      const batches = t.app.get(TicketIssuanceService).stats.batches;
      for (const call of [
        (h?: string) => ask(7, h).set('Idempotency-Key', randomUUID()),
        (h?: string) => {
          const get = request(t.url).get('/users/7/tickets');
          return h === undefined ? get : get.set('Authorization', h);
        },
      ]) {
        const response = await call(await header());
        expect(response.status).toBe(401);
        expect(response.body).toEqual({ statusCode: 401, message });
        expect(response.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      }
      expect(await snapshotDatabase(t.db)).toEqual(before);
      expect(t.app.get(TicketIssuanceService).stats.batches).toBe(batches);
    },
  );

  it('refuses a valid token for another user with 403 (sub is the decimal userId)', async () => {
    const token = `Bearer ${await hs256({ sub: '8' })}`;
    for (const response of [
      await ask(9, token),
      await request(t.url).get('/users/9/tickets').set('Authorization', token),
      await ask(8, `Bearer ${await hs256({ sub: '08' })}`),
    ]) {
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ statusCode: 403, message: OTHER_USER });
    }
  });

  it('spends the per-user budget of the verified user', async () => {
    const token = `Bearer ${await hs256({ sub: '11' })}`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await ask(11, token)).status);
    expect(statuses).toEqual([201, 200, 200, 429]);
    await ask(12, `Bearer ${await hs256({ sub: '12' })}`).expect(201);
  });

  it('scopes Idempotency-Keys by the verified user: the same key from two users is two keys', async () => {
    const key = randomUUID();
    const first = await ask(21, `Bearer ${await hs256({ sub: '21' })}`)
      .set('Idempotency-Key', key)
      .expect(201);
    const second = await ask(22, `Bearer ${await hs256({ sub: '22' })}`)
      .set('Idempotency-Key', key)
      .expect(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.body.ticketId).not.toBe(first.body.ticketId);
    const rows = await t.db('idempotencyKeys').where('idempotencyKey', 'like', `%${key}`);
    expect(rows.map((row: { idempotencyKey: string }) => row.idempotencyKey).sort()).toEqual([
      `21\u001f${key}`,
      `22\u001f${key}`,
    ]);
    const replay = await ask(21, `Bearer ${await hs256({ sub: '21' })}`)
      .set('Idempotency-Key', key)
      .expect(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.text).toBe(first.text);
  });

  it('lets a thousand users behind one carrier address through at the opening (the flood guard is coarse)', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => hs256({ sub: String(100_000 + i) })),
    );
    const answers = await Promise.all(
      tokens.map((token, i) =>
        ask(100_000 + i, `Bearer ${token}`).then((response) => response.status),
      ),
    );
    expect(answers.filter((status) => status === 429)).toEqual([]);
    expect(answers.every((status) => status === 201)).toBe(true);
  });

  it('never answers a random Authorization header with a 5xx or a ticket (property-based)', async () => {
    const before = await t.db('tickets').count({ n: '*' }).first();
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{0,40}$/);
    const header = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ maxLength: 200 }).map((s) => `Bearer ${s}`),
      fc.tuple(segment, segment, segment).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
      fc
        .record({ alg: fc.constantFrom('none', 'HS256', 'RS256', 'HS512', ''), sub: fc.string() })
        .map(({ alg, sub }) => {
          const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
          return `Bearer ${part({ alg })}.${part({ sub, iss: ISSUER, aud: AUDIENCE })}.${part({ sig: sub })}`;
        }),
    );
    await fc.assert(
      fc.asyncProperty(header, fc.integer({ min: 1, max: 50 }), async (authorization, userId) => {
        // Node refuses header values with control characters before anything is sent.
        if (/[^\t\x20-\x7e\x80-\xff]/.test(authorization)) return;
        const response = await ask(200_000 + userId, authorization);
        expect(response.status).toBeLessThan(500);
        expect([401, 403, 429]).toContain(response.status);
      }),
      { numRuns: 300 },
    );
    expect(await t.db('tickets').count({ n: '*' }).first()).toEqual(before);
  });
});

describe('end-user tokens from a JWKS (RS256, ES256), with a key rotation', () => {
  let jwks: Server;
  let served: jose.JWK[] = [];
  /** The identity provider answering its JWKS, or failing. */
  let providerUp = true;
  let t: TestApp;
  let eventKey: string;

  beforeAll(async () => {
    jwks = createServer((_, response) => {
      response.writeHead(providerUp ? 200 : 503, { 'content-type': 'application/json' });
      response.end(providerUp ? JSON.stringify({ keys: served }) : '{}');
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const { port } = jwks.address() as AddressInfo;
    t = await startTestApp({
      env: {
        USER_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        USER_JWT_ISSUER: ISSUER,
        USER_JWKS_COOLDOWN_MS: '0',
      },
    });
    eventKey = (await createEvent(t.url, { totalQuantity: 100 })).eventKey;
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => jwks.close(resolve));
  });

  async function keyPair(alg: 'RS256' | 'ES256', kid: string) {
    const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
    return { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
  }

  const sign = (key: jose.CryptoKey, alg: string, kid: string, sub: string) =>
    new jose.SignJWT({ iss: ISSUER })
      .setProtectedHeader({ alg, kid })
      .setSubject(sub)
      .setExpirationTime('10m')
      .sign(key);

  const ask = (userId: number, token: string) =>
    request(t.url)
      .post(`/events/${eventKey}/tickets`)
      .set('Authorization', `Bearer ${token}`)
      .send({ userId });

  it('answers 503, not 401, while the identity provider is down, and keeps known keys when it goes down again', async () => {
    const rsa = await keyPair('RS256', 'rsa-0');
    served = [rsa.jwk];
    providerUp = false;
    const token = await sign(rsa.privateKey, 'RS256', 'rsa-0', '10');
    const down = await ask(10, token);
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBeDefined();
    providerUp = true;
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the backoff after a failed fetch
    await ask(10, token).expect(201);
    providerUp = false;
    await ask(11, await sign(rsa.privateKey, 'RS256', 'rsa-0', '11')).expect(201);
    providerUp = true;
  });

  it('verifies RS256 and ES256 tokens, and follows a key rotation by refetching the keys', async () => {
    const rsa = await keyPair('RS256', 'rsa-1');
    const ec = await keyPair('ES256', 'ec-1');
    served = [rsa.jwk, ec.jwk];
    await ask(1, await sign(rsa.privateKey, 'RS256', 'rsa-1', '1')).expect(201);
    await ask(2, await sign(ec.privateKey, 'ES256', 'ec-1', '2')).expect(201);

    // The identity provider rotates: the old key is gone, a new one signs.
    const next = await keyPair('RS256', 'rsa-2');
    served = [next.jwk];
    await ask(3, await sign(next.privateKey, 'RS256', 'rsa-2', '3')).expect(201);
    const stale = await ask(4, await sign(rsa.privateKey, 'RS256', 'rsa-1', '4'));
    expect(stale.status).toBe(401);
    expect(stale.body.message).toBe(INVALID);

    // An HS256 token signed with a public key's bytes (algorithm confusion) never passes.
    const confused = await new jose.SignJWT({ iss: ISSUER })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-2' })
      .setSubject('5')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(JSON.stringify(next.jwk)));
    expect((await ask(5, confused)).status).toBe(401);
  });
});
