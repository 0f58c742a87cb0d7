import { toWireTimestamp } from '../common/time';
import type { HeldTicket } from './issuance-policy';

/** `POST /events/:eventKey/tickets` answer. */
export interface TicketView {
  ticketId: string;
  userId: number;
  eventKey: string;
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
