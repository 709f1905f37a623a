/**
 * Jest in ESM mode (NestJS 12 is ESM-only); see ../shared/STACK.md.
 *
 * The suite in tiers, one project each, each runnable alone (`npm run test:<tier>`; docs/testing.md):
 *   unit          src/**\/*.spec.ts: no PostgreSQL, no build
 *   db            test/db: repository and database-level tests on real PostgreSQL
 *   e2e           test/e2e: the application in-process over HTTP, each file on its own database
 *   multiprocess  test/multiprocess: the built service and vmctl as processes (signals, kill -9, outages),
 *                 the Vagrant provider's processes
 *   packaging     test/packaging: Docker files, the SDK tarball, generated clients, the OpenAPI document
 *   browser       test/browser: the web console and Swagger UI in Chromium
 * `npm test` (test/run-tiers.mjs) runs them one after another.
 */
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
  rootDir: __dirname,
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  transformIgnorePatterns: ['/node_modules/(?!.*content-disposition/)'],
  testEnvironment: 'node',
};
/** The tiers on PostgreSQL: one server per run, migrated once into a template database. */
const database = {
  ...common,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
/** The tiers that run what `npm run build` produces: built once, before their first test file. */
const built = {
  ...common,
  globalSetup: '<rootDir>/test/support/global-setup-build.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
const tier = (name, base) => ({ ...base, displayName: name, testMatch: [`<rootDir>/test/${name}/**/*.e2e-spec.ts`] });

module.exports = {
  // A global option (per-project values are ignored): e2e tests poll real workers with their own deadlines.
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    tier('db', database),
    tier('e2e', database),
    tier('multiprocess', built),
    tier('packaging', database),
    tier('browser', built),
  ],
};
