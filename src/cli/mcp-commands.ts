import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createKafkaClient } from '../adapters/kafka/client';
import { createMeshMcpServer } from '../mcp/server';
import { meshReader } from '../mcp/mesh-reader';
import { parseSpecText } from '../specs/load';
import { proposeProduct, withClient } from './product-commands';

/**
 * `meshloop mcp`: the mesh for AI assistants, as a Model Context Protocol server on stdio (stdout is
 * the protocol's; logs go to stderr). It reads, queries read-only and proposes; it never decides.
 */
export function registerMcpCommand(program: Command, version: string): void {
  program
    .command('mcp')
    .description(
      'Serve the mesh to AI assistants over MCP (stdio): list, search and show products, contracts, lineage, analysis, read-only queries, proposals; never approvals',
    )
    .action(async () => {
      await withClient(async (client, config) => {
        const kafka = createKafkaClient({ connection: config.kafka, clientId: 'meshloop-mcp' });
        const reader = meshReader(config, client, kafka);
        const server = createMeshMcpServer(
          {
            ...reader,
            propose: (text) =>
              proposeProduct(
                client,
                config,
                parseSpecText(text, /^\s*\{/.test(text) ? 'json' : 'yaml', 'the spec'),
              ),
          },
          version,
        );
        const transport = new StdioServerTransport();
        const closed = new Promise<void>((resolve) => {
          transport.onclose = resolve;
          process.stdin.once('end', resolve);
        });
        await server.connect(transport);
        await closed;
        await server.close();
      });
    });
}
