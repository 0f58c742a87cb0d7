/**
 * `jose`, the JWT library. It is ESM-only: Node 20.19+ loads it through require() (the production build),
 * and Jest transforms it to CommonJS (jest.config.js).
 */
export * as jose from 'jose';
