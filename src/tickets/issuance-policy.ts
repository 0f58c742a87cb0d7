import { randomUUID } from 'node:crypto';
import {
  DailyLimitReachedError,
  DomainError,
  EventSwitchedOffError,
  OutsideEventPeriodError,
  SoldOutError,
} from '../common/errors/domain-errors';
import type { EventModel } from '../events/event.model';

export interface HeldTicket {
  ticketId: string;
  userId: number;
  issuedAt: Date;
}

export type IssuanceDecision =
  | { kind: 'issued'; ticket: HeldTicket }
  | { kind: 'already-held'; ticket: HeldTicket }
  | { kind: 'refused'; error: DomainError };

export interface IssuanceState {
  /** Tickets the requesting users already hold for this event, by userId. */
  held: ReadonlyMap<number, HeldTicket>;
  /** Tickets issued for this event on the KST day of `now`. */
  issuedToday: number;
}

/** Refusals carry nothing of the request: one of each serves every request (and is turned into bytes once). */
const REFUSED = {
  switchedOff: { kind: 'refused', error: new EventSwitchedOffError() },
  outsidePeriod: { kind: 'refused', error: new OutsideEventPeriodError() },
  soldOut: { kind: 'refused', error: new SoldOutError() },
  dailyLimitReached: { kind: 'refused', error: new DailyLimitReachedError() },
} as const satisfies Record<string, IssuanceDecision>;

/**
 * The issuance rules of the spec, in arrival order, for the users of one batch:
 * 1. a user who holds a ticket gets it back (even when sold out, capped, closed or switched off);
 * 2. a switched-off event refuses; 3. so does one outside its period (inclusive);
 * 4. then the total, 5. then today's cap.
 * Pure: the caller reads the state and writes the decisions inside one SERIALIZABLE transaction.
 */
export function decideIssuance(
  event: EventModel,
  state: IssuanceState,
  userIds: readonly number[],
  now: Date,
): IssuanceDecision[] {
  // Tickets issued by this very call (a user repeated in one batch gets the first copy's ticket); the
  // state's own map is only read, so a large one (every holder of a sold-out event) costs nothing.
  const issuedNow = new Map<number, HeldTicket>();
  let remaining = event.remainingQuantity;
  let issuedToday = state.issuedToday;
  return userIds.map((userId): IssuanceDecision => {
    const ticket = state.held.get(userId) ?? issuedNow.get(userId);
    if (ticket) return { kind: 'already-held', ticket };
    if (!event.isActive) return REFUSED.switchedOff;
    if (!event.isInPeriodAt(now)) return REFUSED.outsidePeriod;
    if (remaining <= 0) return REFUSED.soldOut;
    if (event.dailyLimit !== null && issuedToday >= event.dailyLimit) {
      return REFUSED.dailyLimitReached;
    }
    const issued: HeldTicket = { ticketId: randomUUID(), userId, issuedAt: now };
    issuedNow.set(userId, issued);
    remaining -= 1;
    issuedToday += 1;
    return { kind: 'issued', ticket: issued };
  });
}
