// Lint: typescript-eslint's recommended rules plus Ward's layering (DEVELOPERS.md, "Architecture").
// Imports point down only: cli -> server|client|image -> store|keys|pki|formats -> crypto.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (dir, forbidden, extra = []) => ({
  files: [`src/${dir}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        ...forbidden.map((f) => ({
          group: [`**/${f}/**`, `**/${f}/*`, `**/${f}`],
          message: `src/${dir} must not import src/${f} (layering: imports point down only)`,
        })),
        ...extra,
      ],
    }],
  },
});

const above = {
  crypto: ['formats', 'keys', 'pki', 'store', 'image', 'client', 'server', 'cli'],
  formats: ['keys', 'pki', 'store', 'image', 'client', 'server', 'cli'],
  keys: ['pki', 'store', 'image', 'client', 'server', 'cli'],
  pki: ['keys', 'store', 'image', 'client', 'server', 'cli'],
  store: ['pki', 'image', 'client', 'server', 'cli'],
  image: ['server', 'cli'],
  client: ['server', 'image', 'cli'],
  server: ['client', 'image', 'cli'],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', structuredClone: 'readonly', performance: 'readonly', queueMicrotask: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  ...Object.entries(above).map(([dir, forbidden]) => layer(dir, forbidden)),
);
