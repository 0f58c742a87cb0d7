import { Model } from 'objection';

export class IdempotencyKeyModel extends Model {
  static override tableName = 'idempotency_keys';
  static override idColumn = 'idempotency_key';

  idempotencyKey!: string;
  method!: string;
  path!: string;
  requestHash!: string;
  lockToken!: string | null;
  lockedAt!: Date | null;
  responseStatus!: number | null;
  responseHeaders!: Record<string, string> | null;
  responseBody!: string | null;
  createdAt!: Date;
  expiresAt!: Date;
}
