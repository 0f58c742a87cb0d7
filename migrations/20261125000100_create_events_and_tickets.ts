import type { Knex } from 'knex';

// Raw SQL: constraints and indexes read best as SQL, and it is untouched by the snake_case mappers.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE events (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      event_key       varchar(100) NOT NULL,
      name            varchar(200) NOT NULL,
      total_quantity  integer NOT NULL CHECK (total_quantity >= 1),
      daily_limit     integer CHECK (daily_limit >= 1),
      issued_count    integer NOT NULL DEFAULT 0,
      is_active       boolean NOT NULL DEFAULT true,
      start_at        timestamptz NOT NULL,
      end_at          timestamptz NOT NULL,
      created_at      timestamptz NOT NULL,
      CONSTRAINT events_event_key_unique UNIQUE (event_key),
      CONSTRAINT events_period_ordered CHECK (start_at < end_at),
      CONSTRAINT events_never_oversold CHECK (issued_count BETWEEN 0 AND total_quantity)
    );

    -- One row per event and KST service day; daily_limit is copied in so the database itself refuses a day over its cap.
    CREATE TABLE event_daily_counts (
      event_id      bigint NOT NULL REFERENCES events (id),
      kst_day       date NOT NULL,
      issued_count  integer NOT NULL,
      daily_limit   integer,
      PRIMARY KEY (event_id, kst_day),
      CONSTRAINT event_daily_counts_within_cap
        CHECK (issued_count >= 0 AND (daily_limit IS NULL OR issued_count <= daily_limit))
    );

    CREATE TABLE tickets (
      id         uuid PRIMARY KEY,
      event_id   bigint NOT NULL REFERENCES events (id),
      user_id    bigint NOT NULL CHECK (user_id >= 1),
      issued_at  timestamptz NOT NULL,
      kst_day    date NOT NULL,
      CONSTRAINT tickets_one_per_user_per_event UNIQUE (event_id, user_id)
    );
    CREATE INDEX tickets_by_user_newest_first ON tickets (user_id, issued_at DESC, id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE tickets; DROP TABLE event_daily_counts; DROP TABLE events;');
}
