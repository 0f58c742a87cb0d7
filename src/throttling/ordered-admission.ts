import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Clock } from '../clock/clock';
import { TooManyRequestsError } from '../common/errors/domain-errors';
import { routeFlagsOf } from '../common/route-flags';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config';
import { EVENT_KEY } from '../events/event.schemas';
import { addRequestLogFields } from '../logging/request-log';
import { Metrics } from '../metrics/metrics';
import {
  AdmissionLine,
  LineAnswer,
  LineShape,
  MemoryAdmissionLine,
  SharedAdmissionLine,
  SteadyClock,
} from './admission-line';
import { THROTTLER_REDIS, SharedRedis } from './throttler-redis';

/**
 * The per-address flood guard as a line that keeps arrival order (issue 29): many users share one carrier
 * address, and a guard that refuses whoever comes over its budget turns first come, first served into a
 * lottery decided by retry timing. Here each request of an address gets the next place of the address's
 * line (a leaky bucket: THROTTLE_IP_LIMIT places per THROTTLE_IP_TTL_MS, that many at once for an idle
 * address). A request whose place is at most THROTTLE_IP_MAX_DELAY_MS away waits for it here, in place
 * order; a farther one is refused 429 with a Retry-After that brings it back just before its place, which
 * it keeps as a reservation: its resend — and any request of the same user for the same event — is let
 * through at that place, not sent behind the arrivals since. Issuance has a line of its own (by user and
 * event) and the other routes share another (no reservations), so reads never take the ticket route's
 * places. With Redis one script hands out the places of every instance (one order per address); without
 * it, or while it is away, each instance keeps its own order. A reservation decides when a request passes
 * this guard, never what it gets: the per-user budget, the token and the rest of the pipeline come after.
 */
@Injectable()
export class OrderedAdmission implements OnApplicationShutdown {
  private readonly local: MemoryAdmissionLine;
  private readonly line: AdmissionLine;
  private readonly maxDelayMs: number;
  private readonly releases: ReleaseSchedule;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(THROTTLER_REDIS) redis: SharedRedis | null,
    clock: Clock,
    private readonly metrics: Metrics,
  ) {
    const { ipLimit, ipTtlMs, ipMaxDelayMs, ipGraceMs, ipReservationsPerAddress } = config.throttle;
    const shape: LineShape = {
      limit: ipLimit,
      ttlMs: ipTtlMs,
      maxDelayMs: ipMaxDelayMs,
      graceMs: ipGraceMs,
      reservationsPerAddress: ipReservationsPerAddress,
    };
    this.maxDelayMs = ipMaxDelayMs;
    const steady = new SteadyClock(clock);
    this.releases = new ReleaseSchedule(steady);
    this.local = new MemoryAdmissionLine(
      shape,
      steady,
      config.throttle.ipReservationsMax,
      config.workers,
    );
    this.line = redis
      ? new SharedAdmissionLine(redis, this.local, config.throttle.keyPrefix, shape)
      : this.local;
  }

  /** Resolves when the request may go on (at once, or at its place); throws TooManyRequestsError if not. */
  async admit(request: FastifyRequest): Promise<void> {
    const flags = routeFlagsOf(request);
    // Probes and scrapes are never held or shed (those routes only, not paths that look like them).
    if (flags.operational) return;
    const issuance = flags.throttlePerUser === true;
    const answer = await this.line.take(
      `${issuance ? 'issuance' : 'other'}:${request.ip}`,
      issuance ? identityOf(request) : undefined,
    );
    if (answer.reservation !== 'full' && answer.waitMs <= this.maxDelayMs) {
      if (answer.waitMs > 0) await this.defer(request, answer.waitMs);
      return;
    }
    this.metrics.throttled.inc({ scope: 'ip' });
    await afterTheNextReads();
    throw new TooManyRequestsError(this.retryAfterSeconds(answer));
  }

  onApplicationShutdown(): void {
    this.local.onApplicationShutdown();
  }

  private async defer(request: FastifyRequest, waitMs: number): Promise<void> {
    this.metrics.deferred.inc({ scope: 'ip' });
    this.metrics.deferral.observe(waitMs / 1_000);
    addRequestLogFields(request, { deferredMs: Math.round(waitMs) });
    await this.releases.after(waitMs);
  }

  /**
   * Retry-After is whole seconds, so a client told the seconds until its place comes back up to a second
   * late, behind the places after its own. Told to come back in the middle of the delay bound before its
   * place instead (the bound is at least a second), it lands within the bound and waits here for its exact
   * place. Refused for want of room, it comes back when the line has room.
   */
  private retryAfterSeconds({ waitMs, reservation }: LineAnswer): number {
    const comeBackMs = reservation === 'full' ? waitMs : waitMs - this.maxDelayMs / 2;
    return Math.max(1, Math.round(comeBackMs / 1_000));
  }
}

/**
 * Resolves once the event loop has been through one more poll phase — read what was waiting in the
 * kernel's sockets — since this request's. A refusal held until then (a millisecond or so) cannot bring
 * the crowd's next requests in ahead of its earlier ones: answered at once, a crowd's first 429s brought
 * new requests on the same sockets, which level-triggered epoll hands back ahead of the sockets still
 * unread, and the earlier requests got later places (measured, one address, no Redis: 0.86 and 0.88 of the
 * first 1,000 arrivals won; held, 0.999 in four runs). Waiting for Redis holds the answer that long
 * anyway. The second setImmediate runs in the next turn's check phase, after its poll phase.
 */
async function afterTheNextReads(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

/**
 * What a resend shares its place by: the user and the event of a ticket request — every request of that
 * user for that event, with or without an Idempotency-Key, whatever the key, is the same request to the
 * line (one user gets one ticket; a client cycling keys still gets one place). The body's `userId`: the
 * guard runs before the end-user token is checked, and a forged userId can only share a place someone else
 * already waited for, then fail the token. Undefined for input the route will refuse (no reservation).
 */
function identityOf(request: FastifyRequest): string | undefined {
  const userId = (request.body as { userId?: unknown } | null | undefined)?.userId;
  const eventKey = (request.params as { eventKey?: unknown }).eventKey;
  if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId < 1) return undefined;
  if (typeof eventKey !== 'string' || !EVENT_KEY.test(eventKey)) return undefined;
  return `${eventKey} ${userId}`;
}

interface Release {
  at: number;
  sequence: number;
  release: () => void;
}

/**
 * The deferred requests of this process, released in the order of their places — earliest first, equal
 * times in arrival order — by one timer set to the earliest (a binary heap), not a timer each, whose
 * millisecond resolution would release places less than a millisecond apart in any order. Due by the
 * (steady) Clock, as the places are: a timer that finds the Clock short of the time (a hand-moved clock)
 * looks again after the difference.
 */
class ReleaseSchedule {
  private readonly heap: Release[] = [];
  private sequence = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;

  constructor(private readonly clock: SteadyClock) {}

  after(ms: number): Promise<void> {
    return new Promise((release) => {
      this.push({ at: this.clock.now() + ms, sequence: this.sequence++, release });
      this.arm();
    });
  }

  private arm(): void {
    const next = this.heap[0];
    if (!next || next.at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = next.at;
    this.timer = setTimeout(() => this.fire(), Math.max(1, next.at - this.clock.now()));
  }

  private fire(): void {
    this.timerAt = Infinity;
    // Timers have millisecond resolution: what is due within it goes now.
    const due = this.clock.now() + 1;
    while (this.heap.length > 0 && this.heap[0].at <= due) this.pop().release();
    this.arm();
  }

  private static before(a: Release, b: Release): boolean {
    return a.at < b.at || (a.at === b.at && a.sequence < b.sequence);
  }

  private push(item: Release): void {
    const heap = this.heap;
    heap.push(item);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!ReleaseSchedule.before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): Release {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let first = i;
        if (left < heap.length && ReleaseSchedule.before(heap[left], heap[first])) first = left;
        if (right < heap.length && ReleaseSchedule.before(heap[right], heap[first])) first = right;
        if (first === i) break;
        [heap[i], heap[first]] = [heap[first], heap[i]];
        i = first;
      }
    }
    return top;
  }
}
