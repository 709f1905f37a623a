// typescript-eslint's strict type-checked rules (no floating promises included) with Prettier owning layout.
// Problems present when lint was introduced are recorded in eslint-suppressions.json (ESLint's bulk
// suppressions): they fail nothing today, any new one fails `npm run lint`, and fixing one shrinks the file
// (`npm run lint -- --prune-suppressions`).
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      '**/dist/**',
      'node_modules/**',
      '**/node_modules/**',
      'sdk/schema.d.ts',
      'test/clients/**',
      'coverage/**',
      '**/*.cjs',
      '**/*.mjs',
      '**/*.mts',
      '**/*.js',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Numbers and booleans in messages are fine; objects are not (they print "[object Object]").
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Nest's empty module classes and DTO-only classes are the framework's idiom.
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      // `_`-prefixed parameters are kept on purpose (interface shapes, Nest hooks).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['test/**/*.ts', 'src/**/*.spec.ts', 'bench/**/*.ts'],
    rules: {
      // Jest's expect(...).rejects/resolves and mocks are typed loosely; tests assert on shapes they just parsed.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-extraneous-class': 'off' },
  },
  prettier,
);
