// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);

export default tseslint.config(
  { ignores: ['node_modules/**', '.meshloop/**', 'dist/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', 'bin/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use a const object with a type alias.' },
      ],
    },
  },
  {
    // Only the config module reads the environment: configuration is parsed once and passed down.
    files: ['src/**/*.ts', 'activities/**/*.ts', 'workflows/**/*.ts', 'workers/**/*.ts'],
    ignores: ['src/config/**', 'src/cli/**', 'src/stack/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration in src/config.' },
      ],
    },
  },
  {
    // Workflow code is replayed: it must stay deterministic, so nothing with I/O may be imported.
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({
              name,
              message: 'Workflow code must be deterministic: no Node built-ins.',
            })),
            ...[
              'kafkajs',
              'openai',
              'apache-arrow',
              '@temporalio/activity',
              '@temporalio/client',
              '@temporalio/worker',
              '@temporalio/testing',
            ].map((name) => ({
              name,
              message: 'Workflow code must be deterministic: do this in an activity.',
            })),
          ],
          patterns: [
            {
              group: ['**/src/config', '**/src/config/**', '**/src/adapters/**', '**/src/stack/**'],
              message: 'Workflows import src/domain only.',
            },
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activity types only (import type).',
            },
          ],
        },
      ],
    },
  },
);
