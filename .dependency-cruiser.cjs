/**
 * Feature layers, lowest first: a feature imports only features of lower layers (so features can never
 * import each other in a circle, users <-> vms say). A new feature folder goes into one of them.
 */
const LAYERS = [
  ['events', 'idempotency', 'web-console'],
  ['users'],
  ['credits', 'hosts', 'ssh-keys', 'tokens', 'webhooks'],
  ['vms'],
  ['admin', 'auth', 'health', 'metrics'],
];
const either = (names) => `(${names.join('|')})`;

const layerRules = LAYERS.map((layer, i) => ({
  name: `feature-layer-${i}-imports-only-lower-layers`,
  severity: 'error',
  comment: `${layer.join(', ')} may import only ${i ? LAYERS.slice(0, i).flat().join(', ') : 'no other feature'} (see LAYERS).`,
  from: { path: `^src/modules/${either(layer)}/` },
  to: { path: '^src/modules/', pathNot: [`^src/modules/$1/`, ...(i ? [`^src/modules/${either(LAYERS.slice(0, i).flat())}/`] : [])] },
}));

/**
 * Import directions (`npm run check:imports`, run by CI): arrows point down (file cycles and feature
 * cycles, through LAYERS, are both refused). Features (src/modules/*)
 * may use common/, config/, database/, queue/ and another feature's exported services; the shared
 * layers never import a feature; no feature imports another's controller; no cycles.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'feature-in-a-layer',
      severity: 'error',
      comment: 'Every feature folder is listed in LAYERS.',
      from: { path: `^src/modules/`, pathNot: `^src/modules/${either(LAYERS.flat())}/` },
      to: {},
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules import each other: move the shared piece down (common/, or the lower feature).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'shared-layers-never-import-features',
      severity: 'error',
      comment: 'common/, config/, database/ and queue/ sit below the features: a feature registers with them, not the other way round.',
      from: { path: '^src/(common|config|database|queue)/' },
      to: { path: '^src/modules/' },
    },
    {
      name: 'shared-layers-never-import-the-root',
      severity: 'error',
      comment: 'The root (api/worker/platform modules, entities.ts) composes the layers; the layers do not reach back up.',
      from: { path: '^src/(common|config|database|queue)/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'features-never-import-the-root',
      severity: 'error',
      comment: 'Features do not import the composition root (ApiModule, WorkerModule, entities.ts, bootstrap).',
      from: { path: '^src/modules/' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'no-foreign-controller',
      severity: 'error',
      comment: "A module never imports another module's controller: share a DTO or a service instead.",
      from: { path: '^src/modules/([^/]+)/' },
      to: { path: '^src/modules/([^/]+)/.+\\.controller\\.ts$', pathNot: '^src/modules/$1/' },
    },
    {
      name: 'features-use-common-auth',
      severity: 'error',
      comment:
        'The authenticated user, roles and route decorators are common/auth; only modules/auth itself (the guards) lives in modules/auth.',
      from: { path: '^src/modules/', pathNot: '^src/modules/auth/' },
      to: { path: '^src/modules/auth/' },
    },
    {
      name: 'src-never-imports-tests',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/' },
    // Type-only imports count: a cycle through types is still a cycle for a reader.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
