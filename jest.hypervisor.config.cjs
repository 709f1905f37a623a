/**
 * `npm run test:hypervisor`: one real VM through the API (see test/hypervisor/). Not part of `npm test`:
 * the default config's projects match only src/**\/*.spec.ts and test/<tier>/**\/*.e2e-spec.ts.
 */
const base = require('./jest.config.cjs');
const e2e = base.projects.find((p) => p.displayName === 'e2e');

module.exports = {
  // Package install, box build and a software-emulated VM's lifecycle: each step has its own deadline.
  testTimeout: 30 * 60 * 1000,
  projects: [{ ...e2e, displayName: 'hypervisor', testMatch: ['<rootDir>/test/hypervisor/**/*.hv-spec.ts'] }],
};
