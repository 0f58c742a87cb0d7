import { Model } from 'objection';

export class TicketModel extends Model {
  static override tableName = 'tickets';

  id!: string;
  eventId!: number;
  userId!: number;
  issuedAt!: Date;
  kstDay!: string;
}
