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
  // content-disposition 3 (under @fastify/static) ships ESM only, and @fastify/static require()s it:
  // Node >= 20.19 loads it natively (require(esm)), Jest on Node 20 does not, so it is compiled to CommonJS.
  'node_modules/content-disposition/.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  transformIgnorePatterns: ['/node_modules/(?!.*content-disposition/)'],
  testEnvironment: 'node',
};

module.exports = {
  // A global option (per-project values are ignored): e2e tests poll real workers with their own deadlines.
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
