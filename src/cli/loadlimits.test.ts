// db_load refuses every length a dump names beyond cairn's limits before it allocates or writes
// anything (issue 21 item 4; red-team F17). A queue/recno re_len above the value limit (512 MiB)
// is refused in the checking pass at its header line: re_len=4294967295 used to allocate 4 GB for
// one 1-byte record. A data line certainly longer than its item's limit (the key limit, the value
// limit, re_len) is refused while it streams in, once that much of it has been read: a 200 MB key
// line used to be held whole (514 MB peak) before the 64 KiB key limit refused it.
// Real db_load processes (one line naming the line, exit 2, nothing on disk, peak RSS measured in
// the child) and the parser fed in chunks. Deterministic; ~2 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DumpParser } from '../dump/parser.js';
import { DumpFormatError } from '../dump/codec.js';
import { MAX_KEY_SIZE, MAX_VALUE_SIZE } from '../env/database.js';
import { snapshot, tmpDir } from '../testing/toolskit.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEM_LIMIT = 256 * 1024 * 1024;

/** Runs db_load as its bin does, in a child that reports its peak RSS; killed after 20 s. */
function load(dir: string, args: string[], input?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string; maxRss: number }> {
  const runner = path.join(dir, 'runner.mjs');
  fs.writeFileSync(
    runner,
    `const { run } = await import(${JSON.stringify(pathToFileURL(path.join(DIST, 'cli', 'main.js')).href)});
const code = await run('load', process.argv.slice(2));
process.exitCode = code;
process.on('exit', () => process.stdout.write('\\nMEM ' + process.resourceUsage().maxRSS * 1024 + '\\n'));
`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runner, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {
      // it may exit before reading all of its input
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /\nMEM (\d+)\n$/.exec(stdout);
      resolve({ code, stdout: m ? stdout.slice(0, m.index) : stdout, stderr, maxRss: m ? Number(m[1]) : Infinity });
    });
    child.stdin.end(input ?? '');
  });
}

const CASES: Array<[string, string, string[], number, RegExp]> = [
  ['queue re_len=4294967295, one 1-byte record', 'VERSION=3\nformat=bytevalue\ntype=queue\nre_len=4294967295\nHEADER=END\n 61\nDATA=END\n', [], 4, /re_len=4294967295 exceeds the limit of 536870912 bytes for a value/],
  ['recno re_len one above the value limit', `VERSION=3\nformat=bytevalue\ntype=recno\nre_len=${MAX_VALUE_SIZE + 1}\nHEADER=END\n 61\nDATA=END\n`, [], 4, /re_len=536870913 exceeds/],
  ['re_len set by -c', 'VERSION=3\nformat=print\ntype=queue\nre_len=8\nHEADER=END\n a\nDATA=END\n', ['-c', 're_len=3000000000'], 5, /re_len=3000000000 exceeds .*\(set by -c re_len\)/],
  ['a second block with a huge re_len', 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n k\n v\nDATA=END\nVERSION=3\nformat=print\ndatabase=q\ntype=queue\nre_len=4000000000\nHEADER=END\n a\nDATA=END\n', [], 12, /re_len=4000000000 exceeds/],
];

test('db_load: a re_len above the value limit is refused at its header line, exit 2, nothing on disk, no allocation of it', async () => {
  const dir = tmpDir('relen');
  try {
    const home = path.join(dir, 'home');
    fs.mkdirSync(home);
    for (const [name, dump, extra, line, message] of CASES) {
      const before = snapshot(home);
      const r = await load(dir, ['-h', home, ...extra, 'q.db'], Buffer.from(dump));
      assert.equal(r.code, 2, `${name}: exit ${r.code}\n${r.stderr}`);
      assert.equal(r.stderr.split('\n').length, 2, `${name}: one line expected:\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^db_load: line ${line}: `), name);
      assert.match(r.stderr, message, name);
      assert.deepEqual(snapshot(home), before, `${name}: something changed on disk`);
      assert.ok(r.maxRss < MEM_LIMIT, `${name}: peak RSS ${r.maxRss}`);
    }
    // -T input has no header line: the -c setting is named.
    const r = await load(dir, ['-h', home, '-T', '-t', 'queue', '-c', 're_len=4294967295', 'q.db'], Buffer.from('a\n'));
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^db_load: -c re_len=4294967295: re_len=4294967295 exceeds the limit/);
    assert.deepEqual(fs.readdirSync(home), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('db_load: a key line longer than the key limit is refused naming its line, from a file and from standard input', async () => {
  const dir = tmpDir('bigkey');
  try {
    const home = path.join(dir, 'home');
    fs.mkdirSync(home);
    const dump = Buffer.concat([Buffer.from('VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\n 76\n '), Buffer.alloc(4 * 1024 * 1024, 0x61), Buffer.from('\n 76\nDATA=END\n')]);
    const file = path.join(dir, 'bigkey.dump');
    fs.writeFileSync(file, dump);
    for (const input of ['file', 'stdin']) {
      const r = await load(dir, ['-h', home, ...(input === 'file' ? ['-f', file] : []), 'k.db'], input === 'stdin' ? dump : undefined);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `db_load: line 7: key longer than the limit of ${MAX_KEY_SIZE} bytes (a line of more than ${1 + 2 * MAX_KEY_SIZE} bytes)\n`);
      assert.deepEqual(fs.readdirSync(home), []);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Feeds `chunks` to a parser with cairn's limits; returns the error and how many bytes it took. */
function feed(header: string, chunk: Buffer, chunks: number, options: { text?: boolean; type?: 'queue' } = {}): { error: unknown; fed: number } {
  const p = new DumpParser({ ...options, ...(options.text === true ? { overrides: ['re_len=8'] } : {}), limits: { key: MAX_KEY_SIZE, value: MAX_VALUE_SIZE } });
  let fed = 0;
  try {
    p.write(header);
    for (let i = 0; i < chunks; i++) {
      p.write(chunk);
      fed += chunk.length;
    }
  } catch (error) {
    return { error, fed };
  }
  return { error: undefined, fed };
}

test('the parser refuses an over-long data line while it streams in: after the limit\'s encoded length, never the whole line', () => {
  const piece = Buffer.alloc(64 * 1024, 0x61);
  // A key line of 200 MB in 64 KiB chunks: refused within the first 3 chunks (the cap is 128 KiB + 1).
  let r = feed('VERSION=3\nformat=print\ntype=btree\nHEADER=END\n ', piece, 3200);
  assert.ok(r.error instanceof DumpFormatError && r.error.line === 5 && /key longer than the limit of 65536 bytes/.test(r.error.message), String(r.error));
  assert.ok(r.fed <= 3 * piece.length, `${r.fed} bytes fed before the refusal`);
  // A value line of a queue with re_len=8: refused at once (a print line of 8 bytes is at most 25 long).
  r = feed('VERSION=3\nformat=print\ntype=queue\nre_len=8\nHEADER=END\n ', piece, 3200);
  assert.ok(r.error instanceof DumpFormatError && r.error.line === 6 && /value longer than the fixed record length re_len=8 \(a line of more than 25 bytes\)/.test(r.error.message), String(r.error));
  assert.equal(r.fed, 0);
  // -T: no leading space, three bytes per byte at most.
  r = feed('', piece, 3200, { text: true, type: 'queue' });
  assert.ok(r.error instanceof DumpFormatError && r.error.line === 1 && /re_len=8 \(a line of more than 24 bytes\)/.test(r.error.message), String(r.error));
  // Up to the cap, lines go through to the exact checks: a bytevalue value of exactly re_len, and one byte more.
  const p = new DumpParser({ limits: { key: MAX_KEY_SIZE, value: MAX_VALUE_SIZE } });
  const events = p.write('VERSION=3\nformat=bytevalue\ntype=queue\nre_len=2\nHEADER=END\n 6162\n');
  assert.equal(events.filter((e) => e.kind === 'record').length, 1);
  assert.throws(() => p.write(' 616263\n'), /line 7: value longer than the fixed record length re_len=2 \(a line of more than 5 bytes\)/);
  // Without limits (a plain parse), nothing changes.
  assert.doesNotThrow(() => new DumpParser().write(`VERSION=3\nformat=print\ntype=queue\nre_len=2\nHEADER=END\n ${'a'.repeat(100)}\n`));
});
