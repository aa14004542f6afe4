// The shared option parser and error printing of the db_* utilities (src/cli/common.ts).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliError, ctime, homeOf, parseArgs, parseCount, requireEnvironment, runTool, usageError, type ToolSpec } from './common.js';
import type { CliIo } from './main.js';

const spec: ToolSpec = {
  name: 'db_thing',
  usage: ['db_thing [-abV] [-h home] [-d dir ...] file'],
  options: 'abd:h:V',
  repeatable: 'd',
  unsupported: { P: 'cairn environments are not encrypted' },
  long: { json: 'flag', limit: 'value' },
  help: '  -a  all\n',
  operands: { min: 0, max: 1, name: 'file' },
};

function capture(): CliIo & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

test('getopt style: clusters, attached and separate values, --, permuted operands, long options', () => {
  const o = parseArgs(spec, ['-ab', '-hhome', 'f.db', '-d', 'x', '-d', 'y', '--json', '--limit=3']);
  assert.ok(o.has('a') && o.has('b'));
  assert.equal(o.value('h'), 'home');
  assert.deepEqual(o.values('d'), ['x', 'y']);
  assert.equal(o.value('d'), 'y');
  assert.deepEqual(o.operands, ['f.db']);
  assert.equal(o.long('json'), true);
  assert.equal(o.long('limit'), '3');
  assert.deepEqual(parseArgs(spec, ['--', '-a']).operands, ['-a']);
  assert.deepEqual(parseArgs(spec, ['-ad', 'v']).values('d'), ['v']);
});

test('bad command lines are usage errors with getopt wording', () => {
  const msg = (argv: string[]) => {
    try {
      parseArgs(spec, argv);
    } catch (e) {
      assert.ok(e instanceof CliError && e.usage);
      return e.message;
    }
    return 'no error';
  };
  assert.equal(msg(['-x']), "invalid option -- 'x'");
  assert.equal(msg(['-h']), "option requires an argument -- 'h'");
  assert.equal(msg(['--nope']), "unrecognized option '--nope'");
  assert.equal(msg(['-P', 'pw']), '-P: cairn environments are not encrypted');
  assert.equal(msg(['a', 'b']), 'too many files');
});

test('runTool: usage errors print message and usage on stderr, exit 1; --help and -V on stdout, exit 0', async () => {
  let ran = false;
  const body = async () => {
    ran = true;
    return 0;
  };
  let io = capture();
  assert.equal(await runTool(spec, ['-q'], io, body), 1);
  assert.equal(io.stderr, "db_thing: invalid option -- 'q'\nusage: db_thing [-abV] [-h home] [-d dir ...] file\n");
  assert.equal(io.stdout, '');
  assert.equal(ran, false);
  io = capture();
  assert.equal(await runTool({ ...spec, usageExit: 2 }, ['-q'], io, body), 2);
  io = capture();
  assert.equal(await runTool(spec, ['--help'], io, body), 0);
  assert.match(io.stdout, /^usage: db_thing .*\n\n {2}-a {2}all\n$/);
  io = capture();
  assert.equal(await runTool(spec, ['-V'], io, body), 0);
  assert.match(io.stdout, /^db_thing \(cairn \d+\.\d+\.\d+; Berkeley DB 5\.3 utility conventions\)\n$/);
  assert.equal(ran, false);
});

test('runTool: failures print one line prefixed with the program name', async () => {
  let io = capture();
  assert.equal(await runTool(spec, [], io, () => {
    throw new CliError('the thing failed; do the other thing');
  }), 1);
  assert.equal(io.stderr, 'db_thing: the thing failed; do the other thing\n');
  io = capture();
  assert.equal(await runTool(spec, [], io, () => {
    throw usageError('missing -b');
  }), 1);
  assert.match(io.stderr, /^db_thing: missing -b\nusage: /);
  io = capture();
  assert.equal(await runTool(spec, [], io, () => 3), 3);
});

test('home: -h, else $DB_HOME, else the current directory; requireEnvironment changes nothing', () => {
  assert.equal(homeOf(parseArgs(spec, ['-h', 'x']), {}), path.resolve('x'));
  assert.equal(homeOf(parseArgs(spec, []), { DB_HOME: '/tmp/y' }), '/tmp/y');
  assert.equal(homeOf(parseArgs(spec, []), {}), process.cwd());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-common-'));
  try {
    assert.throws(() => requireEnvironment(path.join(dir, 'nope')), /does not exist; give the environment directory with -h/);
    assert.throws(() => requireEnvironment(dir), /is not a cairn environment \(no __cairn.control and no log files\)/);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('numbers and times', () => {
  assert.equal(parseCount('k', '64'), 64);
  assert.throws(() => parseCount('k', 'abc'), /-k abc: Invalid numeric argument/);
  assert.throws(() => parseCount('p', '0', { min: 1 }), /must be from 1/);
  assert.match(ctime(new Date(2026, 10, 5, 1, 2, 3)), /^Thu Nov {2}5 01:02:03 2026$/);
});

test('requireEnvironment finds the log directory as the engine does (DB_CONFIG parsed, not matched by a regex)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-common-'));
  try {
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.writeFileSync(path.join(dir, 'logs', 'log.0000000001'), '');
    // Directive names are case-insensitive: the logs in logs/ are found.
    fs.writeFileSync(path.join(dir, 'DB_CONFIG'), 'SET_LG_DIR logs\n');
    assert.equal(requireEnvironment(dir, { allowLogsOnly: true }).hasControl, false);
    // An indented line is a comment to Berkeley DB and the engine: the log directory is the home.
    fs.writeFileSync(path.join(dir, 'DB_CONFIG'), '  set_lg_dir logs\n');
    assert.throws(() => requireEnvironment(dir, { allowLogsOnly: true }), /no __cairn.control and no log files/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
