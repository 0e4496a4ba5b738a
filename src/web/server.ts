import http from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
import type { MeshloopConfig } from '../config';
import type { Logger } from '../log';
import { appScript, styleSheet, vendorFile } from './assets';
import { contractServersOf } from '../contracts/of-product';
import { contractOf, contractsOf, DEFAULT_CONTRACT_FORMAT } from './contract';
import type { LastAnalysis } from './model';
import { facets, filterRows, meshGraph, parseFilter, productRows } from './model';
import { graphPage, listPage, messagePage, outagesOf, productPage } from './pages';
import type { ProductStatus } from '../../workflows/definitions';
import type { Answer, HistoryCycle, WebSourceOptions } from './sources';
import { WebSources } from './sources';

/**
 * The read-only web catalog: products, a product's page, the lineage graph. GET and HEAD only;
 * nothing here changes a product (approvals stay signed, in Slack, the CLI and the Temporal UI).
 * Served on 127.0.0.1 by the worker and by `meshloop web`.
 */

/** Scripts and styles from this server only; no inline script or style, no frames, no forms elsewhere. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PRODUCT_ID = /^[A-Za-z0-9_-]{1,100}\.[A-Za-z0-9_-]{1,100}$/;

function securityHeaders(_request: Request, response: Response, next: NextFunction): void {
  response.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  });
  next();
}

const lastAnalysesOf = (history: ReadonlyMap<string, readonly HistoryCycle[]>) => {
  const last = new Map<string, LastAnalysis>();
  for (const [productId, cycles] of history) {
    const newest = cycles[0];
    if (newest)
      last.set(productId, {
        at: newest.at,
        outcome: newest.outcome,
        rows: newest.rows,
        breaches: newest.breaches.length,
      });
  }
  return last;
};

/** The analysis history: the results table's cycles, else the few the workflow keeps. */
function cyclesOf(
  productId: string,
  history: Answer<ReadonlyMap<string, HistoryCycle[]>>,
  status: Answer<ProductStatus>,
): readonly HistoryCycle[] {
  const stored = history.ok ? history.value.get(productId) : undefined;
  if (stored && stored.length > 0) return stored;
  return status.ok ? (status.value.analysisCycles ?? []) : [];
}

/** A product's page; 404 for a product no source knows. */
async function productPageFor(
  sources: WebSources,
  productId: string,
): Promise<{ status: number; html: string }> {
  const [catalog, workflows, status, history, sample] = await Promise.all([
    sources.catalog(),
    sources.workflows(),
    sources.status(productId),
    sources.analysisHistory(),
    sources.sample(productId),
  ]);
  const descriptor = catalog.ok ? catalog.value.get(productId) : undefined;
  const workflow = workflows.ok ? workflows.value.find((w) => w.productId === productId) : undefined;
  if (!descriptor && !workflow && !status.ok && catalog.ok && workflows.ok)
    return {
      status: 404,
      html: messagePage('No such product', `${productId} is neither in the catalog nor in Temporal.`),
    };
  const [row] = productRows(descriptor ? [descriptor] : [], workflow ? [workflow] : []);
  // A product whose workflow is gone (retired long ago) still has its descriptor: no outage then.
  const statusOutage = status.ok || (!workflow && descriptor) ? [] : [status];
  const html = productPage({
    config: sources.config,
    productId,
    descriptor,
    ...(status.ok ? { status: status.value } : {}),
    row,
    contracts: descriptor ? contractsOf(descriptor, contractServersOf(sources.config)) : [],
    cycles: cyclesOf(productId, history, status),
    sample,
    outages: outagesOf(catalog, workflows, history, ...statusOutage),
  });
  return { status: 200, html };
}

/** The express app over the sources (tests give their own sources: a catalog topic, a record key). */
export function createWebApp(sources: WebSources, log: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(securityHeaders);
  app.use((request, response, next) => {
    if (request.method === 'GET' || request.method === 'HEAD') return next();
    response.status(405).set('Allow', 'GET, HEAD').type('text/plain').send('read-only: GET and HEAD only\n');
  });

  app.get('/healthz', (_request, response) => {
    response.json({ ok: true });
  });
  // Browsers ask for it on every site: no icon, and no 404 in their console.
  app.get('/favicon.ico', (_request, response) => {
    response.status(204).end();
  });
  app.get('/assets/app.js', (_request, response) => {
    response.type('text/javascript').send(appScript);
  });
  app.get('/assets/style.css', (_request, response) => {
    response.type('text/css').send(styleSheet);
  });
  app.get('/vendor/:file', (request, response) => {
    const content = vendorFile(String(request.params.file));
    if (!content) return void response.status(404).type('text/plain').send('no such file\n');
    response.set('Cache-Control', 'public, max-age=3600').type('text/javascript').send(content);
  });

  app.get('/', async (request, response) => {
    const [catalog, workflows, history] = await Promise.all([
      sources.catalog(),
      sources.workflows(),
      sources.analysisHistory(),
    ]);
    const rows = productRows(
      catalog.ok ? catalog.value.all() : [],
      workflows.ok ? workflows.value : [],
      history.ok ? lastAnalysesOf(history.value) : new Map(),
    );
    const filter = parseFilter(request.query);
    const { domains, stages } = facets(rows);
    response.type('html').send(
      listPage({
        outages: outagesOf(catalog, workflows, history),
        rows: filterRows(rows, filter),
        total: rows.length,
        filter,
        ...(filter.problem ? { problem: filter.problem } : {}),
        domains,
        stages,
      }),
    );
  });

  app.get('/graph', async (_request, response) => {
    const catalog = await sources.catalog();
    response
      .type('html')
      .send(
        graphPage({ outages: outagesOf(catalog), graph: meshGraph(catalog.ok ? catalog.value.all() : []) }),
      );
  });

  app.get('/products/:id', async (request, response) => {
    const productId = String(request.params.id);
    if (!PRODUCT_ID.test(productId))
      return void response
        .status(400)
        .type('html')
        .send(messagePage('Not a product id', `'${productId.slice(0, 200)}' is not <domain>.<name>.`));
    const page = await productPageFor(sources, productId);
    response.status(page.status).type('html').send(page.html);
  });

  app.get('/products/:id/contract', async (request, response) => {
    const productId = String(request.params.id);
    const format = typeof request.query.format === 'string' ? request.query.format : DEFAULT_CONTRACT_FORMAT;
    const catalog = await sources.catalog();
    if (!catalog.ok)
      return void response
        .status(503)
        .type('text/plain')
        .send(`${catalog.service} is unavailable: ${catalog.message}\n`);
    const descriptor = catalog.value.get(productId);
    const document = descriptor
      ? contractOf(descriptor, format, contractServersOf(sources.config))
      : undefined;
    if (!document)
      return void response
        .status(404)
        .type('text/plain')
        .send(
          descriptor
            ? `no contract format '${format.slice(0, 50)}'\n`
            : `${productId.slice(0, 200)} is not in the catalog\n`,
        );
    response.set('Content-Type', document.mediaType).send(document.text);
  });

  app.use((_request, response) => {
    response.status(404).type('html').send(messagePage('Not found', 'No such page.'));
  });
  // An error no page expected: logged with its message, shown without a stack.
  app.use((error: unknown, request: Request, response: Response, _next: NextFunction) => {
    log.error('web page failed', {
      path: request.path,
      error: error instanceof Error ? error.message : String(error),
    });
    response
      .status(500)
      .type('html')
      .send(messagePage('Something went wrong', 'This page failed; the log says why.'));
  });
  return app;
}

export type RunningWebServer = Readonly<{ url: string; port: number; close: () => Promise<void> }>;

/** Serve the web catalog on 127.0.0.1:<port> (config.web.port unless given); `close` stops it and its clients. */
export async function startWebServer(
  config: MeshloopConfig,
  log: Logger,
  options: Omit<WebSourceOptions, 'config' | 'log'> & { port?: number } = {},
): Promise<RunningWebServer> {
  const { port: wanted, ...sourceOptions } = options;
  const sources = new WebSources({ config, log, ...sourceOptions });
  const server = http.createServer(createWebApp(sources, log));
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(wanted ?? config.web.port, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await sources.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EADDRINUSE'
        ? `port ${wanted ?? config.web.port} is taken: stop what uses it, or set MESHLOOP_WEB_PORT to a free port`
        : `the web catalog could not listen on 127.0.0.1:${wanted ?? config.web.port}: ${(error as Error).message}`,
    );
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (wanted ?? config.web.port);
  const url = `http://127.0.0.1:${port}`;
  log.info('web catalog serving', { url });
  return {
    url,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sources.close();
    },
  };
}

/**
 * The web catalog beside the worker (workers/main.ts, `meshloop start`): trouble here (a taken port)
 * is logged and never stops the worker. Undefined when it did not start.
 */
export async function startWebBesideWorker(
  config: MeshloopConfig,
  log: Logger,
): Promise<RunningWebServer | undefined> {
  try {
    return await startWebServer(config, log.child('web'));
  } catch (error) {
    log.warn('web catalog not started', { error: error instanceof Error ? error.message : String(error) });
    return undefined;
  }
}
