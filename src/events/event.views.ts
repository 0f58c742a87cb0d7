import { toWireTimestamp } from '../common/time';
import type { EventModel } from './event.model';

/** `POST /events` answer: the fields sent, plus remainingQuantity and createdAt. */
export interface CreatedEventView {
  eventKey: string;
  name: string;
  totalQuantity: number;
  dailyLimit: number | null;
  startAt: string;
  endAt: string;
  remainingQuantity: number;
  createdAt: string;
}

/** `GET /events/:eventKey`, `GET /events` items and `PATCH` answers. */
export interface EventView {
  eventKey: string;
  name: string;
  totalQuantity: number;
  dailyLimit: number | null;
  remainingQuantity: number;
  todayIssuedCount: number;
  startAt: string;
  endAt: string;
  isActive: boolean;
}

export function toCreatedEventView(event: EventModel): CreatedEventView {
  return {
    eventKey: event.eventKey,
    name: event.name,
    totalQuantity: event.totalQuantity,
    dailyLimit: event.dailyLimit,
    startAt: toWireTimestamp(event.startAt),
    endAt: toWireTimestamp(event.endAt),
    remainingQuantity: event.remainingQuantity,
    createdAt: toWireTimestamp(event.createdAt),
  };
}

export function toEventView(event: EventModel, todayIssuedCount: number, now: Date): EventView {
  return {
    eventKey: event.eventKey,
    name: event.name,
    totalQuantity: event.totalQuantity,
    dailyLimit: event.dailyLimit,
    remainingQuantity: event.remainingQuantity,
    todayIssuedCount,
    startAt: toWireTimestamp(event.startAt),
    endAt: toWireTimestamp(event.endAt),
    isActive: event.isOpenAt(now),
  };
}
