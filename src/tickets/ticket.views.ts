import { toWireTimestamp } from '../common/time';
import type { HeldTicket } from './issuance-policy';
import type { UserTicketRow } from './tickets.repository';

/** `POST /events/:eventKey/tickets` answer. */
export interface TicketView {
  ticketId: string;
  userId: number;
  eventKey: string;
  issuedAt: string;
}

/** `GET /users/:userId/tickets` item. */
export interface UserTicketView {
  ticketId: string;
  eventKey: string;
  eventName: string;
  issuedAt: string;
}

export function toTicketView(ticket: HeldTicket, eventKey: string): TicketView {
  return {
    ticketId: ticket.ticketId,
    userId: ticket.userId,
    eventKey,
    issuedAt: toWireTimestamp(ticket.issuedAt),
  };
}

export function toUserTicketView(row: UserTicketRow): UserTicketView {
  return {
    ticketId: row.ticketId,
    eventKey: row.eventKey,
    eventName: row.eventName,
    issuedAt: toWireTimestamp(row.issuedAt),
  };
}
