import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- One row per Idempotency-Key: claimed (lock_token set, no response yet), then completed (response stored).
    CREATE TABLE idempotency_keys (
      idempotency_key   varchar(255) PRIMARY KEY,
      method            varchar(10) NOT NULL,
      path              text NOT NULL,
      request_hash      char(64) NOT NULL,
      lock_token        uuid,
      locked_at         timestamptz,
      response_status   smallint,
      response_headers  jsonb,
      response_body     text,
      created_at        timestamptz NOT NULL,
      expires_at        timestamptz NOT NULL,
      CONSTRAINT idempotency_keys_completed_or_locked
        CHECK ((response_status IS NULL) = (lock_token IS NOT NULL))
    );
    CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE idempotency_keys');
}
