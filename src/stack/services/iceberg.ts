import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { StackConfig } from '../../config';
import { ensureMavenLibs, requireJava } from '../install';
import { httpOk } from '../probe';
import type { ServiceDefinition } from '../types';
import { MissingPrerequisiteError, StackError } from '../types';

/**
 * The Iceberg REST catalog: Iceberg's own `RESTCatalogServer` (from `iceberg-open-api`, a shaded jar
 * that already contains Jetty, Hadoop's file IO and the SQLite JDBC driver), over a JDBC catalog kept in
 * a SQLite file, with table files in a local folder.
 */

export const icebergHome = (config: StackConfig) =>
  path.join(config.cacheDir, `iceberg-rest-${config.iceberg.version}`);

/** Where table data and metadata files live. Flink writes here and analysis reads here: one machine. */
export const icebergWarehouseDir = (config: StackConfig) => path.join(config.dataDir, 'iceberg', 'warehouse');

/**
 * `RESTCatalogServer.main` builds its Jetty server with `new Server(port)`: one connector on every
 * interface, and it has no bind-address setting, system property or variable. This launcher does what
 * its `start()` does (the same backend catalog from the same CATALOG_* variables, the same servlet and
 * gzip handler) with the connector bound to 127.0.0.1, so no other machine reaches the catalog. It
 * sits in the catalog's package to reach its package-private adapter; the backend set-up is private
 * and is called reflectively, so a change of Iceberg version that renames it fails at start, loudly.
 */
export const ICEBERG_LAUNCHER_CLASS = 'org.apache.iceberg.rest.MeshloopLoopbackCatalogServer';
const launcherSource = `package org.apache.iceberg.rest;

import java.lang.reflect.Method;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.gzip.GzipHandler;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

/** Meshloop: RESTCatalogServer.start() with its one connector bound to 127.0.0.1. */
public final class MeshloopLoopbackCatalogServer {
  public static void main(String[] args) throws Exception {
    RESTCatalogServer server = new RESTCatalogServer();
    Method init = RESTCatalogServer.class.getDeclaredMethod("initializeBackendCatalog");
    init.setAccessible(true);
    RESTCatalogServer.CatalogContext context = (RESTCatalogServer.CatalogContext) init.invoke(server);
    ServletContextHandler handler = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    handler.addServlet(
        new ServletHolder(new RESTCatalogServlet(new RESTServerCatalogAdapter(context))), "/*");
    handler.insertHandler(new GzipHandler());
    Server http = new Server();
    ServerConnector connector = new ServerConnector(http);
    connector.setHost("127.0.0.1");
    connector.setPort(
        Integer.parseInt(context.configuration().getOrDefault(RESTCatalogServer.REST_PORT, "8181")));
    http.addConnector(connector);
    http.setHandler(handler);
    http.start();
    http.join();
  }
}
`;

/**
 * Compile the launcher once per Iceberg version and launcher text (with the JDK's javac beside the
 * java we run) and return the classpath that starts it: the launcher's folder, then the catalog jar.
 */
export async function icebergLauncherClasspath(config: StackConfig, java: string): Promise<string> {
  const home = icebergHome(config);
  const key = createHash('sha256').update(launcherSource).digest('hex').slice(0, 8);
  const out = path.join(home, `launcher-${key}`);
  const libs = `${path.join(home, 'lib')}/*`;
  const classpath = `${out}${path.delimiter}${libs}`;
  if (
    fs.existsSync(path.join(out, 'org', 'apache', 'iceberg', 'rest', 'MeshloopLoopbackCatalogServer.class'))
  ) {
    return classpath;
  }
  const javac = path.join(path.dirname(fs.realpathSync(java)), 'javac');
  if (!fs.existsSync(javac)) {
    throw new MissingPrerequisiteError(
      'javac (a JDK, not only a Java runtime)',
      'the Iceberg REST catalog (its loopback-only launcher is compiled once)',
      `Install the JDK of ${java} (Debian/Ubuntu: \`apt-get install openjdk-17-jdk-headless\`) or set JAVA_HOME to a JDK.`,
    );
  }
  const staging = `${out}.${process.pid}.tmp`;
  const source = path.join(staging, 'src', 'MeshloopLoopbackCatalogServer.java');
  await fsp.mkdir(path.dirname(source), { recursive: true });
  await fsp.writeFile(source, launcherSource);
  try {
    await promisify(execFile)(javac, ['-nowarn', '-d', staging, '-cp', libs, source]);
  } catch (error) {
    throw new StackError(
      `compiling the catalog's loopback launcher failed (is the Iceberg version still ${config.iceberg.version}?): ${(error as Error).message}`,
      'iceberg',
    );
  }
  await fsp.rm(path.join(staging, 'src'), { recursive: true, force: true });
  await fsp.rename(staging, out).catch(async () => {
    // Another start compiled it at the same time: theirs is as good.
    await fsp.rm(staging, { recursive: true, force: true });
  });
  return classpath;
}

export const icebergService: ServiceDefinition = {
  name: 'iceberg',
  title: 'Iceberg REST catalog',
  ports: (config) => [{ port: config.iceberg.port, setting: 'MESHLOOP_ICEBERG_REST_PORT' }],
  urls: (config) => ({
    catalog: `http://127.0.0.1:${config.iceberg.port}`,
    warehouse: `file://${icebergWarehouseDir(config)}`,
  }),
  async install(ctx) {
    requireJava('the Iceberg REST catalog');
    await ensureMavenLibs({
      dir: icebergHome(ctx.config),
      artifacts: [],
      standaloneArtifacts: [
        {
          groupId: 'org.apache.iceberg',
          artifactId: 'iceberg-open-api',
          version: ctx.config.iceberg.version,
        },
      ],
      label: `Iceberg REST catalog ${ctx.config.iceberg.version} (a 210 MB jar)`,
      service: 'iceberg',
      progress: ctx.progress,
    });
    await icebergLauncherClasspath(ctx.config, requireJava('the Iceberg REST catalog'));
  },
  async prepare(ctx) {
    const java = requireJava('the Iceberg REST catalog');
    const warehouse = icebergWarehouseDir(ctx.config);
    await fsp.mkdir(warehouse, { recursive: true });
    return {
      command: java,
      args: [
        '-Xms64m',
        '-Xmx384m',
        '-XX:+UseSerialGC',
        '-cp',
        await icebergLauncherClasspath(ctx.config, java),
        ICEBERG_LAUNCHER_CLASS,
      ],
      // The server takes its catalog properties from CATALOG_* variables (CATALOG_REST_PORT → rest.port).
      // Our launcher binds it to 127.0.0.1 (RESTCatalogServer itself listens on all interfaces).
      env: {
        CATALOG_WAREHOUSE: `file://${warehouse}`,
        // A file, not `:memory:`: tables must survive a restart of the catalog.
        CATALOG_URI: `jdbc:sqlite:${path.join(ctx.paths.stateDir, 'catalog.db')}`,
        CATALOG_REST_PORT: String(ctx.config.iceberg.port),
        // One SQLite connection: with the default pool of two, product tables committing at once (as
        // they do when their jobs restart together after the catalog restarts) failed with SQLITE_BUSY,
        // a 500 to Flink, and the jobs restarted in lockstep (found by the chaos suite).
        CATALOG_CLIENTS: '1',
      },
      cwd: ctx.paths.stateDir,
    };
  },
  probe: (ctx) => httpOk(`http://127.0.0.1:${ctx.config.iceberg.port}/v1/config`),
};
