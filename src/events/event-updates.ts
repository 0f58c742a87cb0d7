import { Injectable } from '@nestjs/common';
import type { EventModel } from './event.model';

type Listener = (event: EventModel) => void;

/**
 * Tells this process's other parts that an event was switched or corrected here (PATCH), with its row as
 * committed, the moment it is committed, so what they keep in memory follows at once. Other instances learn
 * it by re-reading the row.
 */
@Injectable()
export class EventUpdates {
  private readonly listeners: Listener[] = [];

  onUpdated(listener: Listener): void {
    this.listeners.push(listener);
  }

  updated(event: EventModel): void {
    for (const listener of this.listeners) listener(event);
  }
}
