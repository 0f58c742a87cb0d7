import type { Clock } from '../clock/clock';
import type { SharedRedis } from './throttler-redis';

/**
 * The Clock's time in ms, seen as never going back: a clock set back (by NTP, or by a test) would otherwise
 * push every place, and every deferred request's release, that far away. Forward steps pass as time.
 */
export class SteadyClock {
  private last = -Infinity;
  private behind = 0;

  constructor(private readonly clock: Clock) {}

  now(): number {
    const now = this.clock.now().getTime() + this.behind;
    if (now >= this.last) return (this.last = now);
    this.behind += this.last - now;
    return this.last;
  }
}

/** The shape of one address's line: a leaky bucket (GCRA) that hands out places instead of refusals. */
export interface LineShape {
  /** Requests per `ttlMs` for one address: the rate at which places come, and the burst an idle address gets. */
  limit: number;
  ttlMs: number;
  /** A place this close is waited for in process; a farther one is refused (429). */
  maxDelayMs: number;
  /** A reservation lives until this long after its place, then its identity goes to the back. */
  graceMs: number;
  /** Reservations one address holds at most; past them a request is refused without one. */
  reservationsPerAddress: number;
}

/**
 * Where a request stands in its address's line:
 * - `held`: it has a reserved place (new, or its identity's earlier one), `waitMs` from now;
 * - `none`: no reservation — its place was taken without one (no identity, or no room to keep it), or,
 *   when `waitMs` is beyond the delay bound, the place it would have had (nothing was taken);
 * - `full`: refused, no room for its reservation; `waitMs` until the address's line has room again.
 * A `held`/`none` answer with `waitMs` within the delay bound has taken its place: the request proceeds
 * after `waitMs` (at once when ≤ 0).
 */
export interface LineAnswer {
  waitMs: number;
  reservation: 'held' | 'none' | 'full';
}

export interface AdmissionLine {
  /** `identity` (what a resend shares its place by), or undefined: a place for this request only. */
  take(line: string, identity: string | undefined): Promise<LineAnswer>;
}

interface AddressLine {
  /** Theoretical arrival time: when the next place starts, ms. */
  tat: number;
  /** identity → ms it may proceed; in insertion order, which is the order of the places (made when needed). */
  held?: Map<string, number>;
}

/**
 * The lines of one process, in memory: every instance (and every worker, each with its share of the rate)
 * keeps its own order, on the Clock's (steady) time. Bounded: `reservationsPerAddress` per address and
 * `reservationsMax` in all; idle lines are swept.
 */
export class MemoryAdmissionLine implements AdmissionLine {
  private readonly lines = new Map<string, AddressLine>();
  private readonly intervalMs: number;
  private readonly perAddress: number;
  private reservations = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly shape: LineShape,
    private readonly clock: SteadyClock,
    private readonly reservationsMax: number,
    workers = 1,
  ) {
    // Each worker of the port sees its share of the connections, so it hands out its share of the places.
    this.intervalMs = shape.ttlMs / Math.ceil(shape.limit / workers);
    this.perAddress = Math.ceil(shape.reservationsPerAddress / workers);
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
  }

  take(name: string, identity: string | undefined): Promise<LineAnswer> {
    const { ttlMs, maxDelayMs, graceMs } = this.shape;
    const now = this.clock.now();
    const line = this.lineOf(name, now);
    if (identity !== undefined && line.held) {
      this.expire(line, now);
      const held = line.held.get(identity);
      if (held !== undefined) return Promise.resolve({ waitMs: held - now, reservation: 'held' });
    }
    const tat = Math.max(line.tat, now) + this.intervalMs;
    const waitMs = tat - ttlMs - now;
    const keep = identity !== undefined && waitMs > 0 && this.hasRoom(line);
    if (waitMs > maxDelayMs && !keep) {
      if (identity === undefined) return Promise.resolve({ waitMs, reservation: 'none' });
      const front = line.held?.values().next();
      const roomInMs = !front || front.done ? graceMs : front.value + graceMs - now;
      return Promise.resolve({ waitMs: roomInMs, reservation: 'full' });
    }
    line.tat = tat;
    if (keep) this.hold(line, identity, tat - ttlMs);
    return Promise.resolve({ waitMs, reservation: keep ? 'held' : 'none' });
  }

  /**
   * What the shared line (Redis) answered this instance, kept here too: were Redis to go, this instance's
   * line goes on from where the shared one was, and the reservations it handed out here are still known.
   */
  follow(name: string, identity: string | undefined, { waitMs, reservation }: LineAnswer): void {
    // A refusal without a place took nothing.
    if (reservation === 'full' || (reservation === 'none' && waitMs > this.shape.maxDelayMs))
      return;
    const now = this.clock.now();
    const line = this.lineOf(name, now);
    const proceedAt = now + waitMs;
    line.tat = Math.max(line.tat, proceedAt + this.shape.ttlMs);
    if (reservation === 'held' && identity !== undefined && !line.held?.has(identity)) {
      if (this.hasRoom(line)) this.hold(line, identity, proceedAt);
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  private lineOf(name: string, now: number): AddressLine {
    let line = this.lines.get(name);
    if (!line) {
      line = { tat: now };
      this.lines.set(name, line);
    }
    return line;
  }

  private hasRoom(line: AddressLine): boolean {
    return (line.held?.size ?? 0) < this.perAddress && this.reservations < this.reservationsMax;
  }

  private hold(line: AddressLine, identity: string, proceedAt: number): void {
    (line.held ??= new Map()).set(identity, proceedAt);
    this.reservations += 1;
  }

  /**
   * Places are handed out in time order, so the expired reservations are the first ones (one followed
   * from Redis out of that order only lives until those before it expire).
   */
  private expire(line: AddressLine, now: number): void {
    for (const [identity, proceedAt] of line.held ?? []) {
      if (proceedAt + this.shape.graceMs >= now) return;
      line.held!.delete(identity);
      this.reservations -= 1;
    }
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [name, line] of this.lines) {
      this.expire(line, now);
      if (!line.held?.size && line.tat <= now) this.lines.delete(name);
    }
  }
}

/**
 * The same arithmetic in Redis, atomically, on Redis's own clock (TIME): one order per address for every
 * instance. Microseconds. KEYS: the address's theoretical arrival time, its reservations (a sorted set:
 * identity → when it may proceed). ARGV: interval, ttl, max delay, grace, reservations per address,
 * identity ('' for none). Returns { reservation, wait }. Both keys expire once they no longer matter.
 */
const TAKE_PLACE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxDelay, grace, perAddress = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local identity = ARGV[6]
local function us(n) return string.format('%.3f', n) end
if identity ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. us(now - grace))
  local held = redis.call('ZSCORE', KEYS[2], identity)
  if held then return {'held', us(tonumber(held) - now)} end
end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + interval
local wait = tat - ttl - now
local keep = identity ~= '' and wait > 0 and redis.call('ZCARD', KEYS[2]) < perAddress
if wait > maxDelay and not keep then
  if identity == '' then return {'none', us(wait)} end
  local front = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if front[2] == nil then return {'full', us(grace)} end
  return {'full', us(tonumber(front[2]) + grace - now)}
end
redis.call('SET', KEYS[1], us(tat), 'PX', math.ceil((tat - now) / 1000))
if keep then
  redis.call('ZADD', KEYS[2], us(tat - ttl), identity)
  redis.call('PEXPIRE', KEYS[2], math.ceil((tat - ttl - now + grace) / 1000))
  return {'held', us(wait)}
end
return {'none', us(wait)}
`;

/** What ioredis's defineCommand adds to the connection. */
interface WithTakePlace {
  goldenTicketTakePlace(
    tatKey: string,
    heldKey: string,
    ...args: Array<string | number>
  ): Promise<[string, string]>;
}

/**
 * The lines in Redis while it answers; the instance's memory lines while it does not (SharedRedis), which
 * follow what Redis answered this instance meanwhile.
 */
export class SharedAdmissionLine implements AdmissionLine {
  private readonly args: number[];
  private readonly redis: WithTakePlace;

  constructor(
    private readonly shared: SharedRedis,
    private readonly local: MemoryAdmissionLine,
    private readonly keyPrefix: string,
    shape: LineShape,
  ) {
    shared.redis.defineCommand('goldenTicketTakePlace', { numberOfKeys: 2, lua: TAKE_PLACE });
    this.redis = shared.redis as unknown as WithTakePlace;
    const ms = 1_000;
    this.args = [
      (shape.ttlMs * ms) / shape.limit,
      shape.ttlMs * ms,
      shape.maxDelayMs * ms,
      shape.graceMs * ms,
      shape.reservationsPerAddress,
    ];
  }

  async take(name: string, identity: string | undefined): Promise<LineAnswer> {
    if (this.shared.isUp) {
      try {
        // A hash tag: both keys of one line in one Redis Cluster slot.
        const key = `${this.keyPrefix}:line:{${name}}`;
        const [reservation, waitUs] = await this.shared.run(() =>
          this.redis.goldenTicketTakePlace(
            `${key}:tat`,
            `${key}:held`,
            ...this.args,
            identity ?? '',
          ),
        );
        const answer: LineAnswer = {
          waitMs: Number(waitUs) / 1_000,
          reservation: reservation as LineAnswer['reservation'],
        };
        this.local.follow(name, identity, answer);
        return answer;
      } catch (error) {
        this.shared.failed(error);
      }
    }
    return this.local.take(name, identity);
  }
}
