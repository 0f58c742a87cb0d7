/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: true }],
    // jose is ESM-only; Jest's module registry loads CommonJS, so it is transpiled like our own code.
    '^.+/node_modules/jose/.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022' }, diagnostics: false },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // A backstop for a test that hangs, not a measure of speed: longer than any wait of the tests, which each
  // end on their own condition (test/support/service-process.ts: STUCK_AFTER_MS); on a busy machine a file
  // that takes 10 s idle may take a minute.
  testTimeout: 300_000,
  maxWorkers: 2,
};
