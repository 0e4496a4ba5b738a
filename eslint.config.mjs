// @ts-check
import fs from 'node:fs';
import path from 'node:path';
import js from '@eslint/js';
import ts from 'typescript';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

/** Whether a file (absolute) is `dir` (relative to the root) or under it. @param {string} file @param {string} dir */
const isUnder = (file, dir) => {
  const relative = path.relative(path.join(root, dir), file);
  return !relative.startsWith('..') && !path.isAbsolute(relative);
};

/**
 * Workflow code is replayed, and src/domain is pure: what they import is an allow-list, not a deny-list.
 * Both may import src/domain and the packages below; workflow code also imports other workflow modules
 * and the activities' *types* (`import type`: the contract it proxies). Anything else (Node built-ins,
 * clients, config, logging, the other src/ folders) is done in an activity. Add a package here only if
 * it is deterministic: no I/O, no clock, no randomness, no global state.
 */
const deterministicPackages = [
  '@temporalio/workflow',
  '@temporalio/common',
  'zod',
  // Ed25519 signature checks (src/domain/approval-signing): pure functions of their input.
  '@noble/curves/ed25519',
  // SHA-256 of a spec (its content hash, which approval signatures bind).
  '@noble/hashes/sha2',
  '@noble/hashes/utils',
];

/** @param {string} file @param {string} source @param {boolean} typeOnly */
function mayImport(file, source, typeOnly) {
  if (!source.startsWith('.')) {
    return deterministicPackages.some((name) => source === name || source.startsWith(`${name}/`));
  }
  const target = path.resolve(path.dirname(file), source);
  if (isUnder(target, 'src/domain')) return true;
  if (!isUnder(file, 'workflows')) return false;
  return isUnder(target, 'workflows') || (typeOnly && isUnder(target, 'activities'));
}

/** @type {import('eslint').Rule.RuleModule} */
const deterministicImports = {
  meta: {
    type: 'problem',
    schema: [],
    messages: {
      workflow:
        "Workflow code imports only src/domain, workflows/, activity types (import type) and {{packages}}, not '{{source}}' (what needs more runs in an activity).",
      domain: "src/domain is pure: it imports only src/domain and {{packages}}, not '{{source}}'.",
    },
  },
  create(context) {
    const file = context.filename;
    const messageId = isUnder(file, 'workflows') ? 'workflow' : 'domain';
    const packages = deterministicPackages.join(', ');
    /** @param {import('eslint').Rule.Node} node @param {unknown} source @param {boolean} typeOnly */
    const check = (node, source, typeOnly) => {
      if (typeof source === 'string' && mayImport(file, source, typeOnly)) return;
      const data = { packages, source: typeof source === 'string' ? source : '(a computed module name)' };
      context.report({ node, messageId, data });
    };
    /** @typedef {{ importKind?: string, exportKind?: string }} Kinds */
    /** @param {Kinds & { specifiers?: ReadonlyArray<Kinds> }} node: TypeScript's import and export kinds */
    const isTypeOnly = (node) =>
      node.importKind === 'type' ||
      node.exportKind === 'type' ||
      (node.specifiers !== undefined &&
        node.specifiers.length > 0 &&
        node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type'));
    /** @param {import('eslint').Rule.Node} node */
    const literalOf = (node) => (node.type === 'Literal' ? node.value : undefined);
    return {
      ImportDeclaration: (node) => check(node, node.source.value, isTypeOnly(node)),
      ExportNamedDeclaration: (node) => {
        if (node.source) check(node, node.source.value, isTypeOnly(node));
      },
      ExportAllDeclaration: (node) => check(node, node.source.value, isTypeOnly(node)),
      ImportExpression: (node) => check(node, literalOf(node.source), false),
      CallExpression: (node) => {
        const [first] = node.arguments;
        if (node.callee.type === 'Identifier' && node.callee.name === 'require')
          check(node, first ? literalOf(first) : undefined, false);
      },
      // `import x = require('...')`
      TSExternalModuleReference: (/** @type {import('eslint').Rule.Node} */ node) => {
        const { expression } = /** @type {{ expression: import('eslint').Rule.Node }} */ (
          /** @type {unknown} */ (node)
        );
        check(node, literalOf(expression), false);
      },
    };
  },
};

/**
 * The file a relative module name resolves to, as Node and TypeScript resolve it here.
 * @param {string} from @param {string} source
 */
function resolveLocal(from, source) {
  const base = path.resolve(path.dirname(from), source);
  for (const candidate of [
    base,
    `${base}.ts`,
    `${base}.js`,
    path.join(base, 'index.ts'),
    path.join(base, 'index.js'),
  ]) {
    if (fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  return undefined;
}

/** Each file's relative imports, as TypeScript's scanner reads them from disk; built once per lint run. */
/** @type {Map<string, Array<{ target: string, pos: number, end: number }>>} */
const importGraph = new Map();
/** @param {string} file @param {string} [text] @returns {Array<{ target: string, pos: number, end: number }>} */
function importsOf(file, text) {
  const known = importGraph.get(file);
  if (known) return known;
  /** @type {Array<{ target: string, pos: number, end: number }>} */
  const found = [];
  importGraph.set(file, found);
  const source = text ?? fs.readFileSync(file, 'utf8');
  for (const { fileName, pos, end } of ts.preProcessFile(source, true, true).importedFiles) {
    const target = fileName.startsWith('.') ? resolveLocal(file, fileName) : undefined;
    if (target) found.push({ target, pos, end });
  }
  return found;
}

/** The shortest chain of imports from `start` back to `file`, or undefined. @param {string} start @param {string} file */
function pathBack(start, file) {
  const cameFrom = new Map([[start, '']]);
  const queue = [start];
  while (queue.length > 0) {
    const current = /** @type {string} */ (queue.shift());
    for (const { target } of importsOf(current)) {
      if (target === file) {
        const chain = [current];
        while (chain[0] !== start) chain.unshift(/** @type {string} */ (cameFrom.get(chain[0])));
        return chain;
      }
      if (cameFrom.has(target)) continue;
      cameFrom.set(target, current);
      queue.push(target);
    }
  }
  return undefined;
}

/**
 * No import cycles, type-only imports included: a circle of types still ties two modules that cannot be
 * read, moved or tested apart (import-x's no-cycle skips type imports, so this rule reads the imports itself).
 * @type {import('eslint').Rule.RuleModule}
 */
const noImportCycles = {
  meta: { type: 'problem', schema: [], messages: { cycle: 'Import cycle: {{chain}}.' } },
  create(context) {
    return {
      Program() {
        const file = context.filename;
        const { sourceCode } = context;
        importGraph.delete(file);
        for (const { target, pos, end } of importsOf(file, sourceCode.text)) {
          const chain = target === file ? [] : pathBack(target, file);
          if (!chain) continue;
          const names = [file, ...(target === file ? [] : chain), file].map((f) => path.relative(root, f));
          context.report({
            loc: { start: sourceCode.getLocFromIndex(pos), end: sourceCode.getLocFromIndex(end) },
            messageId: 'cycle',
            data: { chain: names.join(' -> ') },
          });
        }
      },
    };
  },
};

/** No function more complex than this (ESLint's `complexity`: the branches through it). */
const complexityMax = 15;
/**
 * The files with functions over it when the limit came in, each with its most complex function's
 * figure, which it may not exceed. This list only shrinks: when a file's functions get simpler, lower
 * its number or take it out; never add a file or raise a number (split the function instead).
 * @type {{ [file: string]: number }}
 */
const complexityExceptions = {
  'src/adapters/flink/rest.ts': 16,
  'src/adapters/kafka/sampler.ts': 28,
  'src/adapters/slack/blocks.ts': 19,
  'src/agents/llm-agent.ts': 17,
  'src/agents/llm-analyst.ts': 20,
  'src/agents/planner.ts': 18,
  'src/agents/product-sql.ts': 35,
  'src/agents/proposals.ts': 23,
  'src/analysis/cycle.ts': 20,
  'src/analysis/drift.ts': 22,
  'src/cli/analysis-commands.ts': 17,
  'src/cli/discover-commands.ts': 16,
  'src/cli/product-commands.ts': 22,
  'src/config/index.ts': 26,
  'src/creation/guard.ts': 21,
  'src/creation/product-jobs.ts': 25,
  'src/creation/sql-text.ts': 44,
  'src/materialize/flink.ts': 18,
  'src/profile/pii.ts': 16,
  'src/profile/profiler.ts': 36,
  'src/seed/seed.ts': 18,
  'test/helpers/fake-confluent.ts': 34,
  'test/helpers/fake-slack.ts': 17,
  'workflows/discovery.ts': 18,
};

/** The project's own rules (test/unit/lint-rules.test.ts). */
export const meshloopRules = {
  'deterministic-imports': deterministicImports,
  'no-import-cycles': noImportCycles,
};

export default tseslint.config(
  { ignores: ['node_modules/**', '.meshloop/**', 'dist/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', 'bin/*.mjs'] },
        tsconfigRootDir: root,
      },
    },
    plugins: { meshloop: { rules: meshloopRules } },
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
      // No import cycles, type-only imports included (see noImportCycles above).
      'meshloop/no-import-cycles': 'error',
    },
  },
  {
    // The complexity limit, for all code but test files (their describe and it callbacks read top to
    // bottom; they are not functions to split).
    files: ['**/*.ts', '**/*.mjs'],
    ignores: ['test/**/*.test.ts'],
    rules: { complexity: ['error', { max: complexityMax }] },
  },
  ...Object.entries(complexityExceptions).map(([file, max]) => ({
    files: [file],
    rules: { complexity: ['error', { max }] },
  })),
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
    // The workflow boundary (see deterministicPackages above).
    files: ['workflows/**/*.ts', 'src/domain/**/*.ts'],
    rules: { 'meshloop/deterministic-imports': 'error' },
  },
);
