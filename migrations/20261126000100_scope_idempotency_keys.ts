import type { Knex } from 'knex';

// With end-user tokens on, a key is stored scoped by the verified user (`<user>\x1f<key>`): up to 16
// digits and a separator before the key's own 255 characters.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE idempotency_keys ALTER COLUMN idempotency_key TYPE varchar(300)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE idempotency_keys ALTER COLUMN idempotency_key TYPE varchar(255)');
}
