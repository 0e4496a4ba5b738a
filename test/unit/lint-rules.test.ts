import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Rule } from 'eslint';
import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';

const root = path.resolve(__dirname, '..', '..');
const at = (file: string) => path.join(root, file);

// Each run below is one mocha test: RuleTester runs its cases in place, throwing at the first that fails.
RuleTester.describe = (_text: string, method: () => void) => method();
RuleTester.it = (_text: string, method: () => void) => method();
RuleTester.itOnly = RuleTester.it;

describe('lint: the rules that hold the boundary', () => {
  let rules: Record<'deterministic-imports' | 'no-import-cycles', Rule.RuleModule>;
  const tester = new RuleTester({ languageOptions: { parser: tseslint.parser } });

  before(async () => {
    const config = path.join(root, 'eslint.config.mjs');
    ({ meshloopRules: rules } = (await import(config)) as { meshloopRules: typeof rules });
  });

  it('workflow code imports src/domain, workflows/, activity types and the allowed packages only', () => {
    const workflow = at('workflows/product/example.ts');
    const error = { messageId: 'workflow' };
    tester.run('deterministic-imports', rules['deterministic-imports'], {
      valid: [
        "import * as wf from '@temporalio/workflow';",
        "import { ApplicationFailure } from '@temporalio/common';",
        "import { z } from 'zod';",
        "import { workflowIdOf } from '../../src/domain/spec';",
        "import { reviewUpdate } from '../definitions';",
        "import { table } from './table';",
        "import type { AnalysisActivities } from '../../activities/analysis';",
        "import { type ProposalOutcome } from '../../activities/discovery';",
        "export type { Activities } from '../../activities';",
      ].map((code) => ({ code, filename: workflow })),
      invalid: [
        "import fs from 'node:fs';",
        "import { Client } from '@temporalio/client';",
        "import { Kafka } from 'kafkajs';",
        "import { createLogger } from '../../src/log';",
        "import type { Logger } from '../../src/log';",
        "import { loadSpecFile } from '../../src/specs/load';",
        "import { createActivities } from '../../activities';",
        "export * from '../../src/config';",
        "const os = require('node:os');",
        "void import('../../src/agents/planner');",
      ].map((code) => ({ code, filename: workflow, errors: [error] })),
    });
  });

  it('src/domain imports src/domain and the allowed packages only', () => {
    const domain = at('src/domain/example.ts');
    tester.run('deterministic-imports', rules['deterministic-imports'], {
      valid: ["import { z } from 'zod';", "import { MeshloopError } from './errors';"].map((code) => ({
        code,
        filename: domain,
      })),
      invalid: [
        "import { loadConfig } from '../config';",
        "import type { ReviewAction } from '../../workflows/definitions';",
        "import crypto from 'node:crypto';",
      ].map((code) => ({ code, filename: domain, errors: [{ messageId: 'domain' }] })),
    });
  });

  it('no import cycles, type-only imports included', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-lint-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b';\nexport type A = B;\n");
      fs.writeFileSync(path.join(dir, 'b.ts'), "import { c } from './c';\nexport type B = typeof c;\n");
      fs.writeFileSync(
        path.join(dir, 'c.ts'),
        "import type { A } from './a';\nexport const c = 1 as unknown as A;\n",
      );
      fs.writeFileSync(path.join(dir, 'd.ts'), 'export const d = 1;\n');
      tester.run('no-import-cycles', rules['no-import-cycles'], {
        valid: [{ code: "import { d } from './d';\nexport const e = d;", filename: path.join(dir, 'e.ts') }],
        invalid: [
          {
            code: fs.readFileSync(path.join(dir, 'a.ts'), 'utf8'),
            filename: path.join(dir, 'a.ts'),
            errors: [{ messageId: 'cycle' }],
          },
        ],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
