import { buildKnexConfig } from './src/database/knex-config';

/** For the knex CLI (`npx knex --knexfile knexfile.ts migrate:status`); the service uses the same builder. */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL must be set to use the knex CLI');

export default buildKnexConfig({ url });
