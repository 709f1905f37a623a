/** Jest in ESM mode (NestJS 12 is ESM-only); see ../shared/STACK.md. */
const transform = {
  '^.+\\.ts$': [
    'ts-jest',
    {
      useESM: true,
      tsconfig: { module: 'esnext', moduleResolution: 'bundler', isolatedModules: false },
      astTransformers: { before: ['<rootDir>/test/support/swagger-plugin.cjs'] },
      diagnostics: { ignoreCodes: [151002] },
    },
  ],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  testEnvironment: 'node',
};

module.exports = {
  // A global option: Jest ignores testTimeout inside `projects`, which left e2e tests at the 5 s default.
  testTimeout: 60000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
    },
  ],
};
