/**
 * The real-component tier (`npm run test:integration`, through scripts/integration/run.sh).
 * The root jest config ignores this folder; this one runs only it, one file at a time (every
 * file starts real servers and the machine has 2 cores).
 * @type {import('jest').Config}
 */
export default {
  rootDir: '../..',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  roots: ['<rootDir>/test/integration'],
  testMatch: ['**/*.test.ts'],
  maxWorkers: 1,
  testTimeout: 180_000,
};
