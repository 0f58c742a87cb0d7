import { EventCorrectionRefusedError, InvalidInputError } from '../common/errors/domain-errors';
import { truncateToSecond } from '../common/time';
import { ruleMessage } from '../common/validation';
import type { CorrectableFields, EventModel } from './event.model';

/** Changes of a PATCH: the fields that differ from the event as stored. */
export type EventChanges = Partial<CorrectableFields>;

/** The 409s of a correction the event's state refuses, each naming its field and rule. */
export const CORRECTION_REFUSALS = {
  startFixed: 'startAt은(는) 이벤트가 열린 뒤에는 바꿀 수 없습니다.',
  endFixed: 'endAt은(는) 이벤트가 끝난 뒤에는 바꿀 수 없습니다.',
  belowIssued: (issued: number) =>
    `totalQuantity은(는) 이미 발급된 티켓 수(${issued}장)보다 작을 수 없습니다.`,
  soldOutIsFinal:
    'totalQuantity은(는) 매진된 뒤에는 늘릴 수 없습니다. 매진 안내가 이미 나갔습니다.',
  belowToday: (today: number) =>
    `dailyLimit은(는) 오늘(KST) 발급된 티켓 수(${today}장)보다 작을 수 없습니다.`,
  capReachedToday:
    'dailyLimit은(는) 오늘의 한도에 도달한 뒤에는 늘리거나 없앨 수 없습니다. 00:00(KST) 이후에 바꿔주세요.',
};

export const PERIOD_OVER =
  'endAt은(는) 지금보다 뒤여야 합니다. 이미 끝난 기간으로는 이벤트를 열 수 없습니다.';

/**
 * The period must not be over already: an event nobody can ever get a ticket from is a typo. Checked by the
 * clock at creation and by every correction of `endAt` — after the Idempotency-Key, since a stored answer is
 * the answer to its request whenever it is resent.
 */
export function checkPeriodNotOver(endAt: Date, now: Date): void {
  if (endAt.getTime() <= truncateToSecond(now).getTime()) {
    throw new InvalidInputError(PERIOD_OVER, 'endAt');
  }
}

/**
 * What a correction changes, once allowed (README, "Choices where the spec is silent"). Before the event
 * opens (now < startAt and no ticket issued) anything may change, with the checks of a creation. Once it is
 * open, only what keeps every answer already given true — the stored and remembered ones too (idempotency
 * records, FinalRefusals, the event views):
 * - `name`, `isActive`: always;
 * - `totalQuantity`: never below the tickets issued, raised only while not sold out ("sold out" is final);
 * - `dailyLimit`: never below today's (KST) count, raised or removed only while today's cap is not reached
 *   ("today's cap" stays true until 00:00 KST);
 * - `startAt`: fixed; `endAt`: movable while the event has not ended, never to now or before; fixed once ended.
 * A mistake whatever the event's state is a 400 (as at creation); a conflict with what the event has already
 * done is a 409 naming the field. The caller decides under the event's issuance lock, with committed counts.
 */
export function correctionOf(
  event: EventModel,
  issuedToday: number,
  requested: EventChanges,
  now: Date,
): EventChanges {
  const changes = event.changedBy(requested);
  const after: CorrectableFields = { ...event.correctableFields(), ...changes };
  const second = truncateToSecond(now).getTime();
  const opened = event.issuedCount > 0 || second >= event.startAt.getTime();

  if (
    (changes.startAt !== undefined || changes.endAt !== undefined) &&
    after.startAt.getTime() >= after.endAt.getTime()
  ) {
    throw new InvalidInputError(ruleMessage('period.ordered'), 'startAt');
  }
  if (
    (changes.totalQuantity !== undefined || changes.dailyLimit !== undefined) &&
    after.dailyLimit !== null &&
    after.dailyLimit > after.totalQuantity
  ) {
    throw new InvalidInputError(ruleMessage('limit.withinTotal'), 'dailyLimit');
  }
  if (changes.startAt !== undefined && opened) {
    throw new EventCorrectionRefusedError('startAt', CORRECTION_REFUSALS.startFixed);
  }
  if (changes.endAt !== undefined) {
    if (second > event.endAt.getTime()) {
      throw new EventCorrectionRefusedError('endAt', CORRECTION_REFUSALS.endFixed);
    }
    checkPeriodNotOver(changes.endAt, now);
  }
  if (changes.totalQuantity !== undefined && opened) {
    if (changes.totalQuantity < event.issuedCount) {
      throw new EventCorrectionRefusedError(
        'totalQuantity',
        CORRECTION_REFUSALS.belowIssued(event.issuedCount),
      );
    }
    if (changes.totalQuantity > event.totalQuantity && event.remainingQuantity <= 0) {
      throw new EventCorrectionRefusedError('totalQuantity', CORRECTION_REFUSALS.soldOutIsFinal);
    }
  }
  if (changes.dailyLimit !== undefined && opened) {
    if (changes.dailyLimit !== null && changes.dailyLimit < issuedToday) {
      throw new EventCorrectionRefusedError(
        'dailyLimit',
        CORRECTION_REFUSALS.belowToday(issuedToday),
      );
    }
    const capReached = event.dailyLimit !== null && issuedToday >= event.dailyLimit;
    if (capReached && (changes.dailyLimit === null || changes.dailyLimit > event.dailyLimit!)) {
      throw new EventCorrectionRefusedError('dailyLimit', CORRECTION_REFUSALS.capReachedToday);
    }
  }
  return changes;
}
