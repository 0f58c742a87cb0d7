import { Injectable } from '@nestjs/common';

type Listener = (eventKey: string, isActive: boolean) => void;

/**
 * Tells this process's other parts that an event was switched on or off here (PATCH), the moment it is
 * committed, so what they keep in memory follows at once. Other instances learn it by re-reading.
 */
@Injectable()
export class EventSwitches {
  private readonly listeners: Listener[] = [];

  onSwitched(listener: Listener): void {
    this.listeners.push(listener);
  }

  switched(eventKey: string, isActive: boolean): void {
    for (const listener of this.listeners) listener(eventKey, isActive);
  }
}
