#!/usr/bin/env node
// @ts-check
/**
 * Compiles the sources bin/meshloop runs (tsconfig.build.json: src, workflows, activities, workers) into
 * dist/, file by file with TypeScript's own transpiler. It checks no types (`npm run typecheck` does) and
 * stops at a syntax error. Incremental by content: a file is compiled again only when its text, the
 * compiler options or the TypeScript version changed, and the output of a deleted source is removed.
 * Run by `npm ci` (prepare), `npm run build`, and bin/meshloop whenever a source changed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..');
const quiet = process.argv.includes('--quiet');

/** @param {string} text */
const digest = (text) => crypto.createHash('sha256').update(text).digest('hex');

/** @param {string} file @param {string} text */
function writeAtomically(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, file);
}

function buildConfig() {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, 'tsconfig.build.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error('tsconfig.build.json could not be read');
  if (parsed.errors.length > 0)
    throw new Error(
      parsed.errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n'),
    );
  const { outDir, rootDir } = parsed.options;
  if (!outDir || !rootDir) throw new Error('tsconfig.build.json must set outDir and rootDir');
  return { options: parsed.options, fileNames: parsed.fileNames, outDir, rootDir };
}

/** @typedef {{ key: string, files: Record<string, string> }} Manifest */

/** @param {unknown} value @returns {value is Manifest} */
const isManifest = (value) =>
  typeof value === 'object' && value !== null && 'key' in value && 'files' in value;

/** @param {string} file @returns {Manifest | undefined} */
function readManifest(file) {
  try {
    /** @type {unknown} */
    const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
    return isManifest(manifest) ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Compiles one source; its syntax errors, if any, as `file:line:column: message`.
 * @param {string} file @param {string} text @param {ts.CompilerOptions} options @param {string} output
 */
function compile(file, text, options, output) {
  const result = ts.transpileModule(text, {
    compilerOptions: options,
    fileName: file,
    reportDiagnostics: true,
  });
  writeAtomically(output, result.outputText);
  return (result.diagnostics ?? []).map((diagnostic) => {
    const at =
      diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
        : { line: -1, character: -1 };
    const where = `${path.relative(root, file)}:${at.line + 1}:${at.character + 1}`;
    return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
  });
}

/** Every .js file under `dir`. @param {string} dir @returns {string[]} */
const outputsIn = (dir) =>
  fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js'))
    .map((name) => path.join(dir, name));

function build() {
  const began = Date.now();
  const { options, fileNames, outDir, rootDir } = buildConfig();
  const manifestFile = path.join(outDir, '.build-manifest.json');
  // The options with the checkout's own path taken out: a copy elsewhere with its dist/ needs no rebuild.
  const key = digest(JSON.stringify({ typescript: ts.version, options }).replaceAll(root, '<root>'));
  const previous = readManifest(manifestFile);
  const before = previous?.key === key ? previous.files : {};
  /** @type {Record<string, string>} the hash of each source compiled without errors */
  const files = {};
  /** @param {string} source */
  const outputOf = (source) => path.join(outDir, source.replace(/\.ts$/, '.js'));
  const problems = [];
  let compiled = 0;
  for (const file of fileNames.filter((name) => !name.endsWith('.d.ts'))) {
    const source = path.relative(rootDir, file);
    const text = fs.readFileSync(file, 'utf8');
    const hash = digest(text);
    if (before[source] !== hash || !fs.existsSync(outputOf(source))) {
      const found = compile(file, text, options, outputOf(source));
      compiled++;
      problems.push(...found);
      if (found.length > 0) continue;
    }
    files[source] = hash;
  }
  // Outputs without a source (deleted or renamed) go: nothing may load them.
  const expected = new Set(fileNames.map((file) => outputOf(path.relative(rootDir, file))));
  const orphans = outputsIn(outDir).filter((output) => !expected.has(output));
  for (const output of orphans) fs.rmSync(output);
  // A source with syntax errors is left out of the manifest: the next build compiles it again.
  writeAtomically(manifestFile, JSON.stringify({ key, files }));
  if (problems.length > 0) {
    process.stderr.write(`meshloop build: ${problems.length} syntax error(s)\n${problems.join('\n')}\n`);
    process.exit(1);
  }
  if (!quiet)
    process.stderr.write(
      `meshloop build: ${compiled} of ${expected.size} files compiled to ` +
        `${path.relative(root, outDir)}/, ${orphans.length} removed (${Date.now() - began} ms)\n`,
    );
}

build();
