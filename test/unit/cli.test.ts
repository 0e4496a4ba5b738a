import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildProgram, groupsFor, programFor } from '../../src/cli/main';

const root = path.resolve(__dirname, '..', '..');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
  .version;

function run(bin: string, args: readonly string[]) {
  const result = spawnSync(bin, [...args], { encoding: 'utf8', env: { ...process.env, COLUMNS: '80' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function helpOf(program: ReturnType<typeof buildProgram>): string {
  program.configureOutput({ getOutHelpWidth: () => 100 });
  return program.helpInformation();
}

describe('meshloop: the command', function () {
  this.timeout(60_000);

  it('--version prints the package version and exits 0', () => {
    const result = run(path.join(root, 'bin', 'meshloop'), ['--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), version);
  });

  it('--help lists every command and exits 0', () => {
    const result = run(path.join(root, 'bin', 'meshloop'), ['--help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Usage: meshloop \[options\] \[command\]/);
    for (const command of buildProgram().commands)
      assert.match(result.stdout, new RegExp(`\\n  ${command.name()}\\b`));
  });

  it('an unknown command exits 2 (bad usage) with a suggestion', () => {
    const result = run(path.join(root, 'bin', 'meshloop'), ['aprove']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command 'aprove'[\s\S]*Did you mean approve\?/);
  });
});

describe('meshloop: loading only what a command needs', () => {
  it('--help and --version load no command group', () => {
    assert.deepEqual([...groupsFor(['--help'])], []);
    assert.deepEqual([...groupsFor(['-V'])], []);
    assert.deepEqual([...groupsFor([])], []);
    assert.deepEqual([...groupsFor(['start', '--no-worker'])], []);
  });

  it('a command loads its own group; help <command> too; an unknown name loads them all', () => {
    assert.deepEqual([...groupsFor(['approve', 'orders.x', '--by', 'alice'])], ['product']);
    assert.deepEqual([...groupsFor(['analyze', '--status'])], ['analysis']);
    assert.deepEqual([...groupsFor(['help', 'stack'])], ['stack']);
    assert.ok(groupsFor(['nonsense']).size > 1);
  });

  it('the index in main.ts says what the groups register: --help is the same with every group loaded', () => {
    assert.equal(helpOf(programFor(['--help'])), helpOf(buildProgram()));
  });

  it("each command's own help is the same when only its group is loaded", () => {
    for (const command of buildProgram().commands) {
      const alone = programFor([command.name(), '--help']).commands.find((c) => c.name() === command.name());
      assert.ok(alone, command.name());
      assert.equal(helpOf(alone), helpOf(command), command.name());
    }
  });
});

describe('bin/meshloop: never stale against the sources', function () {
  this.timeout(120_000);
  let copy: string;

  before(() => {
    // A copy of the project (its dist/ included, built by a first run here) to edit sources in.
    execFileSync(path.join(root, 'bin', 'meshloop'), ['--version']);
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'meshloop-cli-'));
    for (const entry of [
      'bin',
      'src',
      'workflows',
      'activities',
      'workers',
      'dist',
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
    ])
      fs.cpSync(path.join(root, entry), path.join(copy, entry), {
        recursive: true,
        preserveTimestamps: true,
      });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  });

  after(() => fs.rmSync(copy, { recursive: true, force: true }));

  const meshloop = (...args: string[]) => run(path.join(copy, 'bin', 'meshloop'), args);
  const stamp = () => fs.readFileSync(path.join(copy, 'dist', '.build-stamp'), 'utf8');

  it('runs without building again while the sources are unchanged', () => {
    assert.equal(meshloop('--version').code, 0);
    const before = stamp();
    const compiled = fs.statSync(path.join(copy, 'dist', 'src', 'cli', 'main.js')).mtimeMs;
    assert.equal(meshloop('--version').stdout.trim(), version);
    assert.equal(stamp(), before);
    assert.equal(fs.statSync(path.join(copy, 'dist', 'src', 'cli', 'main.js')).mtimeMs, compiled);
  });

  it('compiles an edited source before running it', () => {
    const main = path.join(copy, 'src', 'cli', 'main.ts');
    fs.writeFileSync(
      main,
      fs.readFileSync(main, 'utf8').replace('Meshloop: an agentic data mesh', 'Meshloop (edited)'),
    );
    const result = meshloop('--help');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Meshloop \(edited\)/);
  });

  it('an edit restored with an older mtime is compiled too', () => {
    const output = path.join(copy, 'src', 'cli', 'output.ts');
    const { mtime } = fs.statSync(output);
    fs.writeFileSync(output, fs.readFileSync(output, 'utf8').replace('  … ', '  >>'));
    fs.utimesSync(output, mtime, new Date(mtime.getTime() - 60_000));
    const compiled = fs.readFileSync(path.join(copy, 'dist', 'src', 'cli', 'output.js'), 'utf8');
    assert.doesNotMatch(compiled, />>/);
    assert.equal(meshloop('--version').code, 0);
    assert.match(fs.readFileSync(path.join(copy, 'dist', 'src', 'cli', 'output.js'), 'utf8'), />>/);
  });

  it('does not run stale code when a source does not compile', () => {
    const main = path.join(copy, 'src', 'cli', 'main.ts');
    fs.appendFileSync(main, '\nconst broken = ;\n');
    const result = meshloop('--version');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /syntax error[\s\S]*src\/cli\/main\.ts:\d+/);
    assert.equal(result.stdout, '');
  });
});
