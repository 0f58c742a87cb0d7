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
  const held = new Map(state.held);
  let remaining = event.remainingQuantity;
  let issuedToday = state.issuedToday;
  return userIds.map((userId): IssuanceDecision => {
    const ticket = held.get(userId);
    if (ticket) return { kind: 'already-held', ticket };
    if (!event.isActive) return { kind: 'refused', error: new EventSwitchedOffError() };
    if (!event.isInPeriodAt(now)) return { kind: 'refused', error: new OutsideEventPeriodError() };
    if (remaining <= 0) return { kind: 'refused', error: new SoldOutError() };
    if (event.dailyLimit !== null && issuedToday >= event.dailyLimit) {
      return { kind: 'refused', error: new DailyLimitReachedError() };
    }
    const issued: HeldTicket = { ticketId: randomUUID(), userId, issuedAt: now };
    held.set(userId, issued);
    remaining -= 1;
    issuedToday += 1;
    return { kind: 'issued', ticket: issued };
  });
}
