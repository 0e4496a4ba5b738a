import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MeshloopError } from '../domain/errors';
import { InvalidSpecError } from '../domain/errors';
import type { MeshReader, ProductSummary } from './mesh-reader';

/** What an assistant may do to the mesh: read it, query tables read-only, propose. Never decide. */
export type MeshActions = MeshReader &
  Readonly<{
    /** Propose a product from spec text (YAML or JSON) through the same checks as `meshloop propose`. */
    propose(specText: string): Promise<{ productId: string; workflowId: string }>;
  }>;

/** Bounds on what a tool call may ask for: an assistant's arguments are untrusted input. */
export const mcpLimits = {
  productId: 200,
  search: 200,
  sql: 10_000,
  specText: 200_000,
  maxRows: 500,
} as const;

const productId = z
  .string()
  .min(3)
  .max(mcpLimits.productId)
  .regex(/^[A-Za-z0-9_.-]+$/, 'a product id is <domain>.<name>')
  .describe('product id, <domain>.<name> (as list_products gives it)');

function asResult(value: unknown): CallToolResult {
  const structured = (Array.isArray(value) ? { items: value } : value) as Record<string, unknown>;
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: structured };
}

/** A failed call as MCP says it (isError), with what went wrong and what to do: never a thrown handler. */
function asError(error: unknown): CallToolResult {
  const problems = error instanceof InvalidSpecError ? error.problems : [];
  const message =
    error instanceof MeshloopError || error instanceof Error ? error.message : 'the call failed';
  const text = [message, ...problems.map((problem) => `- ${problem}`)].join('\n');
  return { isError: true, content: [{ type: 'text', text }] };
}

async function guarded(run: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return asResult(await run());
  } catch (error) {
    return asError(error);
  }
}

function matches(product: ProductSummary, text: string): boolean {
  const needle = text.toLowerCase();
  return [product.productId, product.description, product.owner, product.domain, ...product.tags].some(
    (value) => value.toLowerCase().includes(needle),
  );
}

/**
 * The Meshloop MCP server: tools to list, search and show products, read contracts, lineage and
 * analysis results, run a read-only query on a product's table, and propose a product. No tool
 * approves, rejects or operates: approvals stay signed, with people.
 */
export function createMeshMcpServer(mesh: MeshActions, version: string): McpServer {
  const server = new McpServer({ name: 'meshloop', version });
  const readOnly = { readOnlyHint: true, destructiveHint: false, openWorldHint: false } as const;

  server.registerTool(
    'list_products',
    {
      title: 'List data products',
      description: 'Every data product of the mesh, newest first: id, stage, owner, domain, kind.',
      inputSchema: {
        domain: z.string().max(100).optional().describe('only this domain'),
        stage: z.string().max(40).optional().describe('only this stage, e.g. active, awaitingApproval'),
      },
      annotations: readOnly,
    },
    ({ domain, stage }) =>
      guarded(async () =>
        (await mesh.listProducts()).filter(
          (p) => (!domain || p.domain === domain) && (!stage || p.stage === stage),
        ),
      ),
  );

  server.registerTool(
    'search_products',
    {
      title: 'Search data products',
      description:
        'Products whose id, description, owner, domain or tags contain the text (case-insensitive).',
      inputSchema: { text: z.string().min(1).max(mcpLimits.search) },
      annotations: readOnly,
    },
    ({ text }) => guarded(async () => (await mesh.listProducts()).filter((p) => matches(p, text))),
  );

  server.registerTool(
    'show_product',
    {
      title: 'Show a data product',
      description:
        "A product's stage, spec, decisions, critic review, job, table and analysis cycles, as `meshloop show --json` gives it.",
      inputSchema: { product: productId },
      annotations: readOnly,
    },
    ({ product }) => guarded(() => mesh.showProduct(product)),
  );

  server.registerTool(
    'get_contract',
    {
      title: "A product's data contract",
      description:
        "The product's contract: its spec (schema, keys, quality rules, SLA) as YAML, with owner and domain.",
      inputSchema: { product: productId },
      annotations: readOnly,
    },
    ({ product }) => guarded(() => mesh.contract(product)),
  );

  server.registerTool(
    'get_lineage',
    {
      title: "A product's lineage",
      description:
        'Where a product comes from and what reads it: its input topics and products, column lineage (output column ← input fields), and the products that read it.',
      inputSchema: { product: productId },
      annotations: readOnly,
    },
    ({ product }) => guarded(() => mesh.lineage(product)),
  );

  server.registerTool(
    'get_analysis',
    {
      title: "A product's analysis results",
      description:
        'The newest analysis cycles of a product: checks passed and breached, rows, freshness, proposals made.',
      inputSchema: { product: productId },
      annotations: readOnly,
    },
    ({ product }) => guarded(() => mesh.analysis(product)),
  );

  server.registerTool(
    'query_product',
    {
      title: "Query a product's table",
      description:
        "One read-only SELECT over the product's Iceberg table in embedded DuckDB; the table is `t`. Without SQL: the first rows.",
      inputSchema: {
        product: productId,
        sql: z.string().max(mcpLimits.sql).optional().describe('one SELECT, e.g. select count(*) from t'),
        maxRows: z
          .number()
          .int()
          .min(1)
          .max(mcpLimits.maxRows)
          .optional()
          .describe('at most this many rows (default 100)'),
      },
      annotations: readOnly,
    },
    ({ product, sql, maxRows }) => guarded(() => mesh.query(product, sql, maxRows ?? 100)),
  );

  server.registerTool(
    'propose_product',
    {
      title: 'Propose a data product',
      description:
        'Propose a product from a spec (YAML or JSON text, as `meshloop propose` takes a file). It goes through every check a spec meets and then waits for a domain approver; nothing is built until a person approves it.',
      inputSchema: {
        spec: z.string().min(1).max(mcpLimits.specText).describe('the product spec, YAML or JSON'),
      },
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: false,
        openWorldHint: false,
      },
    },
    ({ spec }) =>
      guarded(async () => {
        const proposed = await mesh.propose(spec);
        return {
          ...proposed,
          next: `waits for an approver of its domain: meshloop approve ${proposed.productId} --by <approver>`,
        };
      }),
  );

  return server;
}
