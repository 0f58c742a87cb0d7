import { Model } from 'objection';
import { truncateToSecond } from '../common/time';

/** What a PATCH may set (events/event-rules.ts says when); the key, the counts and createdAt never change. */
export const CORRECTABLE_FIELDS = [
  'name',
  'totalQuantity',
  'dailyLimit',
  'startAt',
  'endAt',
  'isActive',
] as const;

export interface CorrectableFields {
  name: string;
  totalQuantity: number;
  dailyLimit: number | null;
  startAt: Date;
  endAt: Date;
  isActive: boolean;
}

export class EventModel extends Model implements CorrectableFields {
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

  correctableFields(): CorrectableFields {
    const { name, totalQuantity, dailyLimit, startAt, endAt, isActive } = this;
    return { name, totalQuantity, dailyLimit, startAt, endAt, isActive };
  }

  /** The requested values that differ from this event's (a field sent with its current value is none). */
  changedBy(requested: Partial<CorrectableFields>): Partial<CorrectableFields> {
    const changes: Record<string, unknown> = {};
    for (const field of CORRECTABLE_FIELDS) {
      const value = requested[field];
      const own = this[field];
      const same =
        value instanceof Date && own instanceof Date
          ? value.getTime() === own.getTime()
          : value === own;
      if (value !== undefined && !same) changes[field] = value;
    }
    return changes;
  }

  /**
   * Takes the correctable fields of a newer read (or a commit) of the same event, for a copy kept in memory
   * (event views, final refusals); true when any of them changed. Counts are merged by their keepers.
   */
  takeCorrectionsFrom(newer: CorrectableFields): boolean {
    const changes = this.changedBy(newer);
    Object.assign(this, changes);
    return Object.keys(changes).length > 0;
  }
}
