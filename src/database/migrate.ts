import knexFactory from 'knex';
import { loadConfig } from '../config/config';
import { applyMigrations, buildKnexConfig } from './knex-config';

/** `npm run migrate`: applies pending migrations to DATABASE_URL and exits. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.database.url) throw new Error('DATABASE_URL must be set for npm run migrate');
  const knex = knexFactory(buildKnexConfig({ url: config.database.url }));
  try {
    const applied = await applyMigrations(knex);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'already up to date');
  } finally {
    await knex.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
