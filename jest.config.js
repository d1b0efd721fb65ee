/**
 * Jest runs TypeScript as native ESM through ts-jest (`npm test` passes
 * --experimental-vm-modules). Type checking is `npm run typecheck`; ts-jest only
 * transpiles, which keeps the suite fast.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/'],
  snapshotFormat: { escapeString: false, printBasicPrototype: false },
};
