import type { RequestSpec } from './clients';

/** What a run records: every request and its answer (or why there was none), every fault. */

/** Why a request got no HTTP answer. */
export type NoAnswer = 'timeout' | 'reset' | 'refused';

export interface Entry extends RequestSpec {
  id: number;
  /** The request's role in its chain: first send, resend after a transient, resend of a lost answer, probe. */
  why: 'first' | 'retry' | 'lost-answer' | 'changed-body' | 'again' | 'two-keys' | 'probe';
  /** The instance the request was sent to, and so the one that answered it (each has its own port). */
  instance: string;
  /** Milliseconds since the run began (real time). */
  sentAt: number;
  doneAt: number;
  status?: number;
  answer?: string;
  contentType?: string;
  retryAfter?: string;
  /** `Idempotent-Replayed: true` came with the answer. */
  replayed?: boolean;
  error?: NoAnswer;
}

export interface Fault {
  kind: 'kill-9' | 'sigterm' | 'db-pause' | 'db-cut' | 'redis-stop' | 'late-start' | 'midnight-kst';
  target: string;
  /** Milliseconds since the run began: the fault from `startAt` until healed at `endAt`. */
  startAt: number;
  endAt: number;
  note?: string;
}

/**
 * Whether a fault may make `instance` answer 503: a kill or SIGTERM of that instance (its drain, its
 * restart), or a silent or cut database (every instance). Redis outages, the late start and midnight: none.
 */
export function mayCause503(fault: Fault, instance: string): boolean {
  switch (fault.kind) {
    case 'kill-9':
    case 'sigterm':
      return fault.target === instance;
    case 'db-pause':
    case 'db-cut':
      return true;
    default:
      return false;
  }
}

export class History {
  readonly entries: Entry[] = [];
  readonly faults: Fault[] = [];
  private readonly origin = Date.now();

  /** Milliseconds since the run began. */
  now(): number {
    return Date.now() - this.origin;
  }

  get startedAt(): number {
    return this.origin;
  }

  add(entry: Omit<Entry, 'id'>): Entry {
    const stored = { id: this.entries.length, ...entry };
    this.entries.push(stored);
    return stored;
  }

  fault(fault: Fault): void {
    this.faults.push(fault);
  }
}

/** Texts of the answers the checker tells apart (the spec's and README's exact messages). */
export const MESSAGES = {
  soldOut: '티켓이 모두 소진되었습니다.',
  dailyCap: '오늘의 발급 한도에 도달했습니다. 내일 다시 시도해주세요.',
  outsidePeriod: '이벤트 기간이 아닙니다.',
  switchedOff: '현재 발급이 중단된 이벤트입니다.',
  notFound: '존재하지 않는 이벤트입니다.',
  keyReused: '이 Idempotency-Key는 다른 요청에 이미 사용되었습니다. 새 키로 요청해주세요.',
  inFlight: '같은 Idempotency-Key의 요청이 아직 처리 중입니다. 잠시 후 다시 시도해주세요.',
  twoKeys: 'Idempotency-Key 헤더는 하나만 보낼 수 있습니다.',
} as const;

export function messageOf(entry: Entry): string | undefined {
  if (!entry.answer) return undefined;
  try {
    const parsed = JSON.parse(entry.answer) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A final answer settles what a request did and must be the same for every copy: 2xx, 422, and the business
 * refusals (sold out, today's cap, outside the period, switched off, unknown event). Not final: no answer
 * at all, 429, 503, and 409 "still in flight" — each says "ask again", never "this is the outcome".
 */
export function isFinal(entry: Entry): boolean {
  const status = entry.status;
  if (status === undefined) return false;
  if (status >= 200 && status < 300) return true;
  if (status === 422) return true;
  const message = messageOf(entry);
  if (status === 409) return message === MESSAGES.soldOut || message === MESSAGES.dailyCap;
  if (status === 400) return message === MESSAGES.outsidePeriod || message === MESSAGES.switchedOff;
  if (status === 404) return message === MESSAGES.notFound;
  return false;
}

/** Worth a resend of the same request: no answer, throttled, unavailable, or the key still in flight. */
export function isTransient(entry: Entry): boolean {
  if (entry.status === undefined) return true;
  if (entry.status === 429 || entry.status >= 500) return true;
  return entry.status === 409 && messageOf(entry) === MESSAGES.inFlight;
}
