// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '**/.turbo/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', disallowTypeAnnotations: false, fixStyle: 'inline-type-imports' }],
      'no-console': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // NestJS resolves constructor parameters from emitted type metadata, so injected
    // classes must be imported as values, not as types.
    files: ['services/**/*.ts', 'libs/messaging/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // Plain Node scripts (benchmarks, infra): Node's globals, and they talk on the console.
    files: ['**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node } },
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.spec.ts', 'e2e/**/*.ts', '**/testing/**/*.ts', 'services/cli/**/*.ts', 'services/s1-simulator/src/main.ts', 'infra/**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
);
