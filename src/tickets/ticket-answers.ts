import {
  DailyLimitReachedError,
  DomainError,
  EventSwitchedOffError,
  IdempotencyKeyInFlightError,
  IdempotencyKeyReusedError,
  OutsideEventPeriodError,
  SoldOutError,
} from '../common/errors/domain-errors';
import type { IssuanceOutcome } from '../metrics/metrics';
import { toErrorResponse } from '../common/errors/error-response';
import type { StoredResponse } from '../idempotency/idempotency-claim';
import { toStoredResponse } from '../idempotency/idempotency.repository';
import type { IssuanceDecision } from './issuance-policy';
import { TicketView, toTicketView } from './ticket.views';

/** What a ticket request is answered with. */
export type IssueTicketAnswer =
  | { kind: 'issued' | 'already-held'; status: 201 | 200; body: TicketView }
  | { kind: 'refused' | 'not-found'; error: DomainError }
  /** The stored answer of an earlier request with the same Idempotency-Key. */
  | { kind: 'replay'; response: StoredResponse };

export function answerOf(decision: IssuanceDecision, eventKey: string): IssueTicketAnswer {
  switch (decision.kind) {
    case 'issued':
      return { kind: 'issued', status: 201, body: toTicketView(decision.ticket, eventKey) };
    case 'already-held':
      return { kind: 'already-held', status: 200, body: toTicketView(decision.ticket, eventKey) };
    case 'refused':
      return { kind: 'refused', error: decision.error };
  }
}

/** The outcome label of an answer (metrics, the request's log line). */
export function issuanceOutcomeOf(answer: IssueTicketAnswer): IssuanceOutcome {
  switch (answer.kind) {
    case 'issued':
      return 'issued';
    case 'already-held':
      return 'already_held';
    case 'replay':
      return 'replayed';
    case 'not-found':
      return 'not_found';
    case 'refused':
      return REFUSAL_OUTCOMES.find(([type]) => answer.error instanceof type)?.[1] ?? 'unavailable';
  }
}

/** The reason code of a refusal (its log line), undefined for the other answers. */
export function reasonOf(answer: IssueTicketAnswer): string | undefined {
  return answer.kind === 'refused' || answer.kind === 'not-found' ? answer.error.reason : undefined;
}

const REFUSAL_OUTCOMES: Array<[abstract new (...args: never[]) => DomainError, IssuanceOutcome]> = [
  [SoldOutError, 'sold_out'],
  [DailyLimitReachedError, 'daily_limit_reached'],
  [OutsideEventPeriodError, 'outside_period'],
  [EventSwitchedOffError, 'switched_off'],
  [IdempotencyKeyReusedError, 'key_reused'],
  [IdempotencyKeyInFlightError, 'key_in_flight'],
];

/** Refusals are shared constants (issuance-policy.ts): each is turned into bytes once. */
const refusalBytes = new WeakMap<DomainError, StoredResponse>();

/**
 * The answer as it goes out and as it is stored for its Idempotency-Key — one function for both, so a
 * replay is the same bytes as the first answer.
 */
export function responseOf(answer: IssueTicketAnswer): StoredResponse {
  switch (answer.kind) {
    case 'issued':
    case 'already-held':
      return toStoredResponse({ status: answer.status, body: answer.body });
    case 'refused':
    case 'not-found': {
      let bytes = refusalBytes.get(answer.error);
      if (!bytes) {
        bytes = toStoredResponse(toErrorResponse(answer.error));
        refusalBytes.set(answer.error, bytes);
      }
      return bytes;
    }
    case 'replay':
      return answer.response;
  }
}
