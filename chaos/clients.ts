import { Agent, request as httpRequest } from 'node:http';
import { Entry, History, NoAnswer, isTransient } from './history';
import { Prng } from './prng';
import { sleep } from './system';

/** An instance as clients see it: a name and a port on 127.0.0.1 (up or not). */
export interface Target {
  name: string;
  port: number;
}

export interface RequestSpec {
  /** `user:<id>`, `operator`, `probe`. */
  actor: string;
  method: 'POST' | 'PATCH';
  path: string;
  /** The exact body sent. */
  body: string;
  key?: string;
  /** Sent with two Idempotency-Key headers instead (an app bug): the service must refuse it 400. */
  twoKeys?: [string, string];
  /** Event of a ticket request or PATCH. */
  eventKey: string;
  /** The user a ticket request is for (its body's userId). */
  userId?: number;
}

/** Clients give up on an answer after this and resend (the service answers a silent database in ~3 s). */
const CLIENT_TIMEOUT_MS = 4_000;

export class Clients {
  private readonly agents = new Map<number, Agent>();

  /** `targets`: the instances deployed now (a late instance joins once started). */
  constructor(
    readonly history: History,
    private readonly targets: () => readonly Target[],
  ) {}

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
  }

  /** One request, recorded with its answer or the reason it has none. */
  send(spec: RequestSpec, why: Entry['why'], target: Target): Promise<Entry> {
    let agent = this.agents.get(target.port);
    if (!agent) {
      agent = new Agent({ keepAlive: true, maxSockets: 64 });
      this.agents.set(target.port, agent);
    }
    const sentAt = this.history.now();
    const record = (fields: Partial<Entry>) =>
      this.history.add({
        ...spec,
        why,
        instance: target.name,
        sentAt,
        doneAt: this.history.now(),
        ...fields,
      });
    return new Promise((resolve) => {
      let settled = false;
      const finish = (fields: Partial<Entry>) => {
        if (settled) return;
        settled = true;
        resolve(record(fields));
      };
      const headers: Record<string, string | string[]> = {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(spec.body)),
      };
      if (spec.key) headers['idempotency-key'] = spec.key;
      // An array is sent as one header line per value, as a buggy app would; Node's server joins them.
      if (spec.twoKeys) headers['idempotency-key'] = spec.twoKeys;
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: target.port,
          method: spec.method,
          path: spec.path,
          headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', () => finish({ error: 'reset' }));
          res.on('end', () => {
            const retryAfter = res.headers['retry-after'];
            const contentType = res.headers['content-type'];
            finish({
              status: res.statusCode,
              answer: Buffer.concat(chunks).toString('utf8'),
              ...(contentType !== undefined ? { contentType } : {}),
              ...(retryAfter !== undefined ? { retryAfter: String(retryAfter) } : {}),
              ...(res.headers['idempotent-replayed'] === 'true' ? { replayed: true } : {}),
            });
          });
        },
      );
      req.setTimeout(CLIENT_TIMEOUT_MS, () => {
        finish({ error: 'timeout' });
        req.destroy();
      });
      req.on('error', (error: NodeJS.ErrnoException) => finish({ error: errorKind(error) }));
      req.end(spec.body);
    });
  }

  /**
   * Sends until a final answer, as the apps do: a resend of the same request (same key) after a time-out,
   * a reset, a 5xx, a 429 or a 409 "in flight", honouring Retry-After, each time to a random instance.
   * `changeBody` is an app bug: a resend with another body under the same key. Returns the last answer
   * (not final when attempts or time ran out).
   */
  async untilFinal(
    rng: Prng,
    spec: RequestSpec,
    why: Entry['why'],
    options: { maxAttempts: number; deadline: number; changeBody?: () => RequestSpec },
  ): Promise<Entry> {
    let current = spec;
    let reason = why;
    for (let attempt = 1; ; attempt++) {
      const entry = await this.send(current, reason, rng.pick(this.targets()));
      if (!isTransient(entry)) return entry;
      if (attempt >= options.maxAttempts || this.history.now() >= options.deadline) return entry;
      await sleep(waitAfter(entry, attempt, rng));
      reason = 'retry';
      if (options.changeBody && rng.chance(0.5)) {
        current = options.changeBody();
        reason = 'changed-body';
      }
    }
  }
}

function errorKind(error: NodeJS.ErrnoException): NoAnswer {
  return error.code === 'ECONNREFUSED' ? 'refused' : 'reset';
}

/** Retry-After when given (whole seconds, plus jitter); otherwise exponential backoff with jitter. */
function waitAfter(entry: Entry, attempt: number, rng: Prng): number {
  const seconds = Number(entry.retryAfter);
  if (entry.retryAfter !== undefined && Number.isFinite(seconds)) {
    return seconds * 1000 + rng.between(0, 300);
  }
  return Math.min(3_000, 100 * 2 ** attempt) * rng.between(0.5, 1);
}
