import { Model } from 'objection';
import { truncateToSecond } from '../common/time';

export class EventModel extends Model {
  static override tableName = 'events';

  id!: number;
  eventKey!: string;
  name!: string;
  totalQuantity!: number;
  dailyLimit!: number | null;
  issuedCount!: number;
  isActive!: boolean;
  startAt!: Date;
  endAt!: Date;
  createdAt!: Date;

  get remainingQuantity(): number {
    return this.totalQuantity - this.issuedCount;
  }

  /** The period is inclusive at both ends, to the second (the wire format's precision). */
  isInPeriodAt(now: Date): boolean {
    const second = truncateToSecond(now).getTime();
    return this.startAt.getTime() <= second && second <= this.endAt.getTime();
  }

  /** "Running now": inside its period and not switched off. */
  isOpenAt(now: Date): boolean {
    return this.isActive && this.isInPeriodAt(now);
  }
}
