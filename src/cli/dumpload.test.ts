// db_dump and db_load (issue 5): the reference dumps round-trip byte for byte, every option,
// and a malformed or failing load changes nothing on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { Database } from '../env/database.js';
import { PageOffset } from '../page/format.js';
import { MetaOffset } from '../page/meta.js';
import { setBatchBytes, BATCH_BYTES } from '../tools/loader.js';
import { dumpPairs, pool, REPO, runInProcess, runProcess, smallLogConfig, snapshot, tmpDir, VECTORS } from '../testing/toolskit.js';
import { rng, randBytes, randInt, testSeeds } from '../util/random.js';

const vectors = fs.readdirSync(VECTORS).filter((f) => f.endsWith('.dump')).sort();

function flagsFor(name: string): string[] {
  const out: string[] = [];
  if (/\.(p|kp)$/.test(name)) out.push('-p');
  if (/\.(k|kp)$/.test(name)) out.push('-k');
  return out;
}

function oneLine(stderr: string, prog: string): void {
  assert.equal(stderr.split('\n').length, 2, `expected exactly one line on stderr, got:\n${stderr}`);
  assert.ok(stderr.startsWith(`${prog}: `), stderr);
}

test('every reference dump: cairn db_load then cairn db_dump reproduces it byte for byte (hash: the same pairs)', async () => {
  assert.ok(vectors.length >= 20, `reference dumps missing in ${VECTORS}`);
  const home = tmpDir('vectors');
  try {
    smallLogConfig(home);
    for (const v of vectors) {
      const name = v.slice(0, -'.dump'.length);
      const expected = fs.readFileSync(path.join(VECTORS, v), 'utf8');
      const load = await runInProcess('load', ['-h', home, '-f', path.join(VECTORS, v), `${name}.db`]);
      assert.equal(load.code, 0, `${v}: ${load.stderr}`);
      const dump = await runInProcess('dump', [...flagsFor(name), '-h', home, `${name}.db`]);
      assert.equal(dump.code, 0, `${v}: ${dump.stderr}`);
      if (expected.includes('type=hash')) {
        const head = (s: string) => s.slice(0, s.indexOf('HEADER=END'));
        assert.equal(head(dump.stdout), head(expected), `${v}: header`);
        assert.deepEqual(dumpPairs(dump.stdout), dumpPairs(expected), `${v}: pairs`);
      } else {
        assert.equal(dump.stdout, expected, `${v}: dump differs`);
      }
    }
    // -l lists the subdatabases; -s dumps one without its database= line.
    const list = await runInProcess('dump', ['-l', '-h', home, 'multi.db']);
    assert.equal(list.stdout, fs.readFileSync(path.join(VECTORS, 'multi.list'), 'utf8'));
    const beta = await runInProcess('dump', ['-p', '-s', 'beta', '-h', home, 'multi.p.db']);
    const full = fs.readFileSync(path.join(VECTORS, 'multi.p.dump'), 'utf8');
    const block = full.slice(full.indexOf('VERSION=3', 1)).replace('database=beta\n', '');
    assert.equal(beta.stdout, block);
    // ... and loading that dump makes a plain single-database file.
    fs.writeFileSync(path.join(home, 'beta.txt'), beta.stdout);
    assert.equal((await runInProcess('load', ['-h', home, '-f', path.join(home, 'beta.txt'), 'beta.db'])).code, 0);
    const notMulti = await runInProcess('dump', ['-l', '-h', home, 'beta.db']);
    assert.equal(notMulti.code, 1);
    assert.equal(notMulti.stderr, 'db_dump: beta.db: does not contain multiple databases\n');
    const noSuch = await runInProcess('dump', ['-s', 'gamma', '-h', home, 'multi.db']);
    assert.equal(noSuch.code, 1);
    oneLine(noSuch.stderr, 'db_dump');
    // Every loaded file verifies.
    const verify = await runInProcess('verify', ['-h', home, ...vectors.map((v) => `${v.slice(0, -5)}.db`)]);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('type conversions (-t), record numbers (-k), text input (-T) and -c settings', async () => {
  const home = tmpDir('convert');
  try {
    smallLogConfig(home);
    const vec = (n: string) => path.join(VECTORS, n);
    const ok = async (args: string[]) => {
      const r = await runInProcess('load', ['-h', home, ...args]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    };
    const dump = async (args: string[]) => {
      const r = await runInProcess('dump', ['-h', home, ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    // recno dumped with -k loads as btree with the ASCII record numbers as keys.
    await ok(['-t', 'btree', '-f', vec('recno.k.dump'), 'r2b.db']);
    assert.equal(await dump(['-p', 'r2b.db']), 'VERSION=3\nformat=print\ntype=btree\ndb_pagesize=4096\nHEADER=END\n 1\n first record\n 2\n second\n 3\n \n 4\n fourth, after an empty one\nDATA=END\n');
    // Without -k the conversion is refused (BDB5077), and nothing is created.
    const before = snapshot(home);
    const bad = await runInProcess('load', ['-h', home, '-t', 'btree', '-f', vec('recno.dump'), 'bad.db']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^db_load: line 5: improper database type conversion specified/);
    assert.deepEqual(snapshot(home), before);
    // btree -> hash keeps the pairs; queue -> recno keeps the record length and pad.
    await ok(['-t', 'hash', '-f', vec('btree.dump'), 'b2h.db']);
    assert.match(await dump(['b2h.db']), /^VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n/);
    await ok(['-t', 'recno', '-f', vec('queue.p.dump'), 'q2r.db']);
    assert.equal(await dump(['-p', 'q2r.db']), 'VERSION=3\nformat=print\ntype=recno\nre_len=8\nre_pad=0x2e\ndb_pagesize=4096\nHEADER=END\n one.....\n two.....\n three...\nDATA=END\n');
    // A btree dump loaded as recno reads its keys as record numbers.
    fs.writeFileSync(path.join(home, 'b.txt'), 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n 7\n seven\n 10\n ten\nDATA=END\n');
    await ok(['-t', 'recno', '-f', path.join(home, 'b.txt'), 'b2r.db']);
    assert.equal(await dump(['-k', '-p', 'b2r.db']), 'VERSION=3\nformat=print\ntype=recno\ndb_pagesize=4096\nkeys=1\nHEADER=END\n 7\n seven\n 10\n ten\nDATA=END\n');
    // -T: plain text, one item per line, with \\ and \hh escapes.
    fs.writeFileSync(path.join(home, 't.txt'), 'apple\nred\nback\\\\slash\nnew\\0aline\n');
    await ok(['-T', '-t', 'btree', '-f', path.join(home, 't.txt'), 'text.db']);
    assert.equal(await dump(['-p', 'text.db']), 'VERSION=3\nformat=print\ntype=btree\ndb_pagesize=4096\nHEADER=END\n apple\n red\n back\\\\slash\n new\\0aline\nDATA=END\n');
    // -T for queue pads short records with re_pad.
    fs.writeFileSync(path.join(home, 'q.txt'), 'a\nbb\n');
    await ok(['-T', '-t', 'queue', '-c', 're_len=4', '-c', 're_pad=.', '-f', path.join(home, 'q.txt'), 'tq.db']);
    assert.equal(await dump(['-p', 'tq.db']), 'VERSION=3\nformat=print\ntype=queue\nre_len=4\nre_pad=0x2e\ndb_pagesize=4096\nHEADER=END\n a...\n bb..\nDATA=END\n');
    // -c database=NAME loads into a subdatabase; -c settings win over the file header.
    await ok(['-c', 'database=gamma', '-c', 'bt_minkey=3', '-f', vec('btree.dump'), 'sub.db']);
    assert.equal((await runInProcess('dump', ['-l', '-h', home, 'sub.db'])).stdout, 'gamma\n');
    assert.match(await dump(['sub.db']), /^VERSION=3\nformat=bytevalue\ndatabase=gamma\ntype=btree\nbt_minkey=3\ndb_pagesize=4096\nHEADER=END\n/);
    // The page size of a new file is the dump's.
    fs.writeFileSync(path.join(home, 'small.txt'), 'VERSION=3\nformat=print\ntype=btree\nrecnum=1\nbt_minkey=3\ndb_pagesize=512\nHEADER=END\n k1\n v1\n k2\n v2\nDATA=END\n');
    await ok(['-f', path.join(home, 'small.txt'), 'small.db']);
    assert.equal(await dump(['-p', 'small.db']), fs.readFileSync(path.join(home, 'small.txt'), 'utf8'));
    assert.match((await runInProcess('stat', ['-h', home, '-d', 'small.db'])).stdout, /^512\tUnderlying database page size$/m);
    // Bad -c settings and -T without -t: exit 2, one line, nothing changed.
    const snap = snapshot(home);
    for (const [args, msg] of [
      [['-c', 'nosuchkw=1'], /unknown command-line configuration keyword "nosuchkw"/],
      [['-c', 'duplicates'], /command-line configuration uses name=value format/],
      [['-c', 'duplicates=yes'], /boolean name=value pairs require a value of 0 or 1/],
      [['-T'], /no database type specified/],
    ] as Array<[string[], RegExp]>) {
      const r = await runInProcess('load', ['-h', home, ...args, '-f', vec('btree.dump'), 'x.db']);
      assert.equal(r.code, 2, args.join(' '));
      oneLine(r.stderr, 'db_load');
      assert.match(r.stderr, msg);
    }
    assert.deepEqual(snapshot(home), snap);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('loading into an existing file adds records; -n reports existing keys by line and exits 1', async () => {
  const home = tmpDir('merge');
  try {
    smallLogConfig(home);
    const file = (name: string, text: string) => {
      fs.writeFileSync(path.join(home, name), text);
      return path.join(home, name);
    };
    const a = file('a.txt', 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n apple\n red\n cherry\n dark red\nDATA=END\n');
    const b = file('b.txt', 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n apple\n green\n banana\n yellow\nDATA=END\n');
    assert.equal((await runInProcess('load', ['-h', home, '-f', a, 'm.db'])).code, 0);
    const n = await runInProcess('load', ['-n', '-h', home, '-f', b, 'm.db']);
    assert.equal(n.code, 1);
    assert.equal(n.stderr, 'db_load: m.db: line 5: key already exists, not loaded: apple\n');
    let d = await runInProcess('dump', ['-p', '-h', home, 'm.db']);
    assert.match(d.stdout, / apple\n red\n banana\n yellow\n cherry\n dark red\n/);
    // Without -n existing keys are overwritten, as in Berkeley DB.
    assert.equal((await runInProcess('load', ['-h', home, '-f', b, 'm.db'])).code, 0);
    d = await runInProcess('dump', ['-p', '-h', home, 'm.db']);
    assert.match(d.stdout, / apple\n green\n/);
    // A second database in the same file, and a type clash refused before anything is written.
    const c = file('c.txt', 'VERSION=3\nformat=print\ndatabase=extra\ntype=recno\nHEADER=END\n one\n two\nDATA=END\n');
    assert.equal((await runInProcess('load', ['-h', home, '-f', c, 'm.db'])).code, 0);
    assert.equal((await runInProcess('dump', ['-l', '-h', home, 'm.db'])).stdout, 'extra\n');
    const h = file('h.txt', 'VERSION=3\nformat=print\ntype=hash\nHEADER=END\n k\n v\nDATA=END\n');
    const snap2 = snapshot(home);
    const clash = await runInProcess('load', ['-h', home, '-f', h, 'm.db']);
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /^db_load: line 1: m\.db: the unnamed database exists as a btree database; the dump is hash/);
    assert.deepEqual(snapshot(home), snap2);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

/** The malformed-input catalogue of bdb-dump-format.md, and more: [name, input, line]. */
const HEAD = 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n';
const PHEAD = 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n';
const MALFORMED: Array<[string, string, number | undefined]> = [
  ['data lines with no header', ' 6b\n 76\nDATA=END\n', 1],
  ['VERSION=9', 'VERSION=9\nformat=print\ntype=btree\nHEADER=END\nDATA=END\n', 1],
  ['format=hexy', 'VERSION=3\nformat=hexy\ntype=btree\nHEADER=END\nDATA=END\n', 2],
  ['no type=', 'VERSION=3\nformat=print\nHEADER=END\nDATA=END\n', 3],
  ['unknown keyword', 'VERSION=3\nformat=print\ntype=btree\ncolour=blue\nHEADER=END\nDATA=END\n', 4],
  ['empty value', 'VERSION=3\nformat=print\ntype=btree\ndb_pagesize=\nHEADER=END\nDATA=END\n', 4],
  ['junk line in the header', 'VERSION=3\nformat=print\ntype=btree\njunkline\nHEADER=END\nDATA=END\n', 4],
  ['page size not a power of two', 'VERSION=3\nformat=print\ntype=btree\ndb_pagesize=1000\nHEADER=END\nDATA=END\n', 4],
  ['header without HEADER=END', 'VERSION=3\nformat=print\ntype=btree\n', 4],
  ['CRLF line ends', 'VERSION=3\r\nformat=print\r\ntype=btree\r\nHEADER=END\r\n k\r\n v\r\nDATA=END\r\n', 2],
  ['non-hex digits', `${HEAD} zz\n 76\nDATA=END\n`, 5],
  ['data line without its space', `${HEAD}6b\n 76\nDATA=END\n`, 5],
  ['bad print escape', `${PHEAD} a\\zz\n v\nDATA=END\n`, 5],
  ['recno key not a number', 'VERSION=3\nformat=print\ntype=recno\nkeys=1\nHEADER=END\n 3x\n a\nDATA=END\n', 6],
  ['garbage after DATA=END', `${PHEAD} k\n v\nDATA=END\ngarbage\n`, 8],
  ['odd number of hex digits', `${HEAD} 6b7\n 76\nDATA=END\n`, 5],
  ['upper-case hex', `${HEAD} 4B\n 76\nDATA=END\n`, 5],
  ['key without data before DATA=END', `${PHEAD} k\n v\n k2\nDATA=END\n`, 8],
  ['no DATA=END at end of input', `${PHEAD} k\n v\n`, 7],
  ['type=heap', 'VERSION=3\nformat=print\ntype=heap\nHEADER=END\nDATA=END\n', 3],
  ['empty input', '', 1],
  ['no newline after DATA=END', `${PHEAD} k\n v\nDATA=END`, 7],
  ['input ends inside a data line', `${HEAD} 6170`, 5],
  ['binary garbage', '\x00\x01\x02\xff\xfe garbage\n', 1],
  ['duplicate keyword', 'VERSION=3\nformat=print\ntype=btree\ntype=hash\nHEADER=END\nDATA=END\n', 4],
  ['backslash at end of line', `${PHEAD} a\\\n v\nDATA=END\n`, 5],
  ['raw byte in a print item', `${PHEAD} a\tb\n v\nDATA=END\n`, 5],
  ['queue without re_len', 'VERSION=3\nformat=print\ntype=queue\nHEADER=END\n a\nDATA=END\n', 1],
  ['queue record longer than re_len', 'VERSION=3\nformat=print\ntype=queue\nre_len=2\nHEADER=END\n ab\n abc\nDATA=END\n', 7],
  ['recno with duplicates', 'VERSION=3\nformat=print\ntype=recno\nduplicates=1\nHEADER=END\n a\nDATA=END\n', 1],
  ['a second block of another type for the same database', `${PHEAD} k\n v\nDATA=END\nVERSION=3\nformat=print\ntype=recno\nHEADER=END\n a\nDATA=END\n`, 8],
  ['a bad record after good blocks', `${PHEAD} k\n v\nDATA=END\nVERSION=3\nformat=print\ndatabase=two\ntype=btree\nHEADER=END\n k\n v\n \\q\n v\nDATA=END\n`, 15],
  ['second block truncated', `${PHEAD} k\n v\nDATA=END\nVERSION=3\nformat=print\ndatabase=two\ntype=btree\n`, 12],
];

test('malformed dumps (the catalogue and more): one line naming the line, exit 2, nothing changed on disk', async () => {
  const fresh = tmpDir('malformed-fresh');
  const home = tmpDir('malformed-env');
  try {
    smallLogConfig(home);
    fs.writeFileSync(path.join(home, 'good.txt'), `${PHEAD} keep\n me\nDATA=END\n`);
    assert.equal((await runInProcess('load', ['-h', home, '-f', path.join(home, 'good.txt'), 'x.db'])).code, 0);
    const envBefore = snapshot(home);
    const freshBefore = snapshot(fresh);
    const check = (name: string, r: { code: number; stdout: string; stderr: string }, line: number | undefined): void => {
      assert.equal(r.code, 2, `${name}: exit ${r.code}, ${r.stderr}`);
      oneLine(r.stderr, 'db_load');
      if (line !== undefined) assert.match(r.stderr, new RegExp(`^db_load: line ${line}: `), `${name}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    };
    // As processes, the dump on standard input, into a directory with no environment yet.
    await pool(MALFORMED, 3, async ([name, input, line]) => {
      check(name, await runProcess('load', ['-h', fresh, 'x.db'], { input: Buffer.from(input, 'latin1') }), line);
    });
    // In this process, from a file, into an existing environment and file.
    for (const [name, input, line] of MALFORMED) {
      const f = path.join(fresh, '..', `${path.basename(fresh)}.dump`);
      fs.writeFileSync(f, Buffer.from(input, 'latin1'));
      try {
        check(name, await runInProcess('load', ['-h', home, '-f', f, 'x.db']), line);
      } finally {
        fs.rmSync(f, { force: true });
      }
    }
    assert.deepEqual(snapshot(home), envBefore);
    assert.deepEqual(snapshot(fresh), freshBefore);
    assert.deepEqual(fs.readdirSync(fresh), []);
  } finally {
    fs.rmSync(fresh, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('truncated dumps: every cut of a dump is refused with exit 2 and creates nothing', async () => {
  const dir = tmpDir('truncated');
  try {
    const home = path.join(dir, 'env');
    fs.mkdirSync(home);
    const full = fs.readFileSync(path.join(VECTORS, 'multi.p.dump'));
    const firstEnd = full.indexOf('DATA=END\n') + 'DATA=END\n'.length; // a cut here is a complete one-block dump
    for (let cut = 0; cut < full.length; cut++) {
      if (cut === firstEnd) continue;
      const input = path.join(dir, 'cut.dump');
      fs.writeFileSync(input, full.subarray(0, cut));
      const r = await runInProcess('load', ['-h', home, '-f', input, 'x.db']);
      assert.equal(r.code, 2, `cut at ${cut}: ${r.stderr}`);
      oneLine(r.stderr, 'db_load');
      assert.match(r.stderr, /^db_load: line \d+: /, `cut at ${cut}`);
      assert.deepEqual(fs.readdirSync(home), [], `cut at ${cut}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a load that fails part way (after the checks) leaves no partial database, new file or existing', async (t) => {
  for (const seed of testSeeds(1, 7)) {
    const home = tmpDir('atomic');
    const original = Database.prototype.put;
    try {
      smallLogConfig(home);
      const r = rng(seed);
      // A dump of ~600 KiB: several batches at 64 KiB each.
      let text = 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n';
      for (let i = 0; i < 300; i++) text += ` ${Buffer.from(`key${String(i).padStart(5, '0')}`).toString('hex')}\n ${randBytes(r, 1000 + randInt(r, 2000)).toString('hex')}\n`;
      text += 'DATA=END\nVERSION=3\nformat=bytevalue\ndatabase=second\ntype=btree\nHEADER=END\n 61\n 62\nDATA=END\n';
      fs.writeFileSync(path.join(home, 'big.dump'), text);
      fs.writeFileSync(path.join(home, 'small.dump'), `${PHEAD} keep\n me\nDATA=END\n`);
      assert.equal((await runInProcess('load', ['-h', home, '-f', path.join(home, 'small.dump'), 'old.db'])).code, 0);
      setBatchBytes(64 * 1024);
      let puts = 0;
      Database.prototype.put = function (this: Database, ...args: Parameters<Database['put']>) {
        if (++puts === 250) throw new Error('injected failure (disk full)');
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as Database['put'];
      const before = snapshot(home);
      const oldBefore = fs.readFileSync(path.join(home, 'old.db'));
      // New file: batches were committed to a temporary file, which is removed.
      const a = await runInProcess('load', ['-h', home, '-f', path.join(home, 'big.dump'), 'new.db']);
      assert.equal(a.code, 2, a.stderr);
      assert.match(a.stderr, /injected failure/);
      assert.ok(!fs.existsSync(path.join(home, 'new.db')));
      assert.deepEqual(fs.readdirSync(home).filter((n) => n.startsWith('.db_load')), []);
      // Existing file: one transaction, aborted.
      puts = 0;
      const b = await runInProcess('load', ['-h', home, '-f', path.join(home, 'big.dump'), 'old.db']);
      assert.equal(b.code, 2, b.stderr);
      Database.prototype.put = original;
      const after = await runInProcess('dump', ['-p', '-h', home, 'old.db']);
      assert.equal(after.stdout, `VERSION=3\nformat=print\ntype=btree\ndb_pagesize=4096\nHEADER=END\n keep\n me\nDATA=END\n`);
      assert.equal((await runInProcess('verify', ['-h', home, 'old.db'])).code, 0);
      // Only the log, control file and page LSN map moved on (the aborted work and a removed temporary file are logged).
      const changed = [...snapshot(home)].filter(([k, v]) => before.get(k) !== v).map(([k]) => k);
      // old.db only in what a checkpoint records in its meta page: needsLog (docs/FORMAT.md), page LSN and checksum.
      assert.deepEqual(changed.filter((k) => !k.startsWith('log.') && k !== '__cairn.control' && k !== '__cairn.pages' && k !== 'old.db'), [], `changed: ${changed.join(', ')}`);
      const oldAfter = fs.readFileSync(path.join(home, 'old.db'));
      const checkpointFields = (b: Buffer) => Buffer.concat([b.subarray(PageOffset.lsnFile + 8, MetaOffset.needsLog), b.subarray(MetaOffset.needsLog + 8)]);
      assert.ok(checkpointFields(oldAfter).equals(checkpointFields(oldBefore)), 'old.db changed beyond its meta page LSN, checksum and needsLog');
      // The same load without the fault succeeds, in several batches.
      const c = await runInProcess('load', ['-h', home, '-f', path.join(home, 'big.dump'), 'new.db']);
      assert.equal(c.code, 0, c.stderr);
      const d = await runInProcess('dump', ['-h', home, 'new.db']);
      assert.equal(d.stdout, text.replaceAll('type=btree\nHEADER=END', 'type=btree\ndb_pagesize=4096\nHEADER=END'), `seed ${seed}`);
    } catch (e) {
      t.diagnostic(`seed ${seed} (replay with CAIRN_SEED=${seed})`);
      throw e;
    } finally {
      Database.prototype.put = original;
      setBatchBytes(BATCH_BYTES);
      fs.rmSync(home, { recursive: true, force: true });
    }
  }
});

function holdOwner(home: string): { ready: Promise<number>; stop: () => Promise<void> } {
  const entry = new URL('../index.js', import.meta.url).href;
  const src = `const { Environment } = await import(process.argv[1]);
const env = await Environment.open(process.argv[2], { create: true, logFileSize: 262144 });
const db = await env.openDatabase('live.db', { create: true });
await db.put('k', 'v');
process.stdout.write('ready ' + process.pid + '\\n');
process.stdin.resume();
process.stdin.on('end', async () => { await env.close(); process.exit(0); });`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', src, entry, home], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = new Promise<number>((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /ready (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    p.on('exit', (code) => reject(new Error(`owner exited early (${code})`)));
  });
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  return { ready, stop: async () => { p.stdin!.end(); await exited; } };
}

test('bad command lines, missing files, live owners: one-line errors and Berkeley DB exit statuses, nothing changed', async () => {
  const home = tmpDir('cli');
  try {
    smallLogConfig(home);
    assert.equal((await runInProcess('load', ['-h', home, '-f', path.join(VECTORS, 'btree.dump'), 'b.db'])).code, 0);
    const before = snapshot(home);
    const cases: Array<[string, string[], number, RegExp]> = [
      ['dump', ['-x', '-h', home, 'b.db'], 1, /^db_dump: invalid option -- 'x'\nusage: db_dump /],
      ['load', ['-x', '-h', home, 'b.db'], 2, /^db_load: invalid option -- 'x'\nusage: db_load /],
      ['verify', ['-x', '-h', home, 'b.db'], 1, /^db_verify: invalid option -- 'x'\nusage: /],
      ['stat', ['-y', '-h', home], 1, /^db_stat: invalid option -- 'y'\nusage: /],
      ['stat', ['-x', '-h', home], 1, /^db_stat: -x: cairn has no shared-memory mutexes\nusage: /],
      ['printlog', ['-x', '-h', home], 1, /^db_printlog: invalid option -- 'x'\nusage: /],
      ['dump', ['-h', home], 1, /^db_dump: missing db_file\nusage: /],
      ['load', ['-t', 'bogus', '-h', home, 'b.db'], 2, /^db_load: -t bogus: expected btree, hash, recno or queue\nusage: /],
      ['printlog', ['-b', 'abc', '-h', home], 1, /^db_printlog: -b abc: expected an LSN/],
      ['dump', ['-r', '-h', home, 'b.db'], 1, /^db_dump: -r: salvage mode is not supported/],
      ['stat', ['-h', home], 1, /^db_stat: choose what to report/],
    ];
    for (const [tool, args, code, re] of cases) {
      const r = await runProcess(tool, args);
      assert.equal(r.code, code, `${tool} ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
    const oneLiners: Array<[string, string[], number, RegExp]> = [
      ['dump', ['-h', home, 'nosuch.db'], 1, /^db_dump: open: nosuch\.db: No such file or directory/],
      ['dump', ['-h', path.join(home, 'nope'), 'b.db'], 1, /does not exist/],
      ['load', ['-h', home, '-f', path.join(home, 'nosuch.dump'), 'b.db'], 2, /nosuch\.dump: No such file or directory/],
      ['load', ['-h', path.join(home, 'nope'), '-f', path.join(VECTORS, 'btree.dump'), 'b.db'], 2, /does not exist/],
      ['stat', ['-h', home, '-d', 'nosuch.db'], 1, /nosuch\.db: No such file or directory/],
    ];
    for (const [tool, args, code, re] of oneLiners) {
      const r = await runProcess(tool, args);
      assert.equal(r.code, code, `${tool} ${args.join(' ')}: ${r.stderr}`);
      oneLine(r.stderr, `db_${tool}`);
      assert.match(r.stderr, re);
    }
    const v = await runProcess('verify', ['-h', home, 'nosuch.db']);
    assert.equal(v.code, 1);
    assert.equal(v.stdout, 'Verification of nosuch.db failed.\n');
    assert.equal(v.stderr, 'db_verify: nosuch.db: No such file or directory\n');
    assert.deepEqual(snapshot(home), before);

    // A live owner: tools that need consistent data files refuse, naming its pid; db_stat -e
    // asks it through the channel; db_printlog reads the log.
    const live = tmpDir('live');
    const owner = holdOwner(live);
    try {
      const pid = await owner.ready;
      for (const [tool, args, code] of [
        ['dump', ['-h', live, 'live.db'], 1],
        ['load', ['-h', live, '-f', path.join(VECTORS, 'btree.dump'), 'other.db'], 2],
        ['verify', ['-h', live, 'live.db'], 1],
        ['stat', ['-h', live, '-d', 'live.db'], 1],
      ] as Array<[string, string[], number]>) {
        const r = await runProcess(tool, args);
        assert.equal(r.code, code, `${tool}: ${r.stderr}`);
        oneLine(r.stderr, `db_${tool}`);
        assert.match(r.stderr, new RegExp(`open in process ${pid}`));
      }
      assert.ok(!fs.existsSync(path.join(live, 'other.db')));
      const st = await runProcess('stat', ['-e', '-h', live]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, new RegExp(`^${pid}\tOwner process ID$`, 'm'));
      assert.match(st.stdout, /^owner\tFigures read from$/m);
      const js = await runProcess('stat', ['-l', '-t', '--json', '-h', live]);
      assert.equal(js.code, 0, js.stderr);
      const parsed = JSON.parse(js.stdout) as { log: { end: { file: number } }; txn: { commits: number } };
      assert.equal(parsed.log.end.file, 1);
      assert.ok(parsed.txn.commits >= 1);
      const pl = await runProcess('printlog', ['-h', live]);
      assert.equal(pl.code, 0, pl.stderr);
      assert.match(pl.stdout, /^\[1\]\[\d+\] commit: txn=\d+ time=\d{12}\.\d{2} /m);
    } finally {
      await owner.stop();
      fs.rmSync(live, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('processes end to end: db_dump | db_load through a pipe, -f output written only when complete', async () => {
  const a = tmpDir('pipe-a');
  const b = tmpDir('pipe-b');
  try {
    smallLogConfig(a);
    const r1 = await runProcess('load', ['-h', a, 'multi.db'], { input: fs.readFileSync(path.join(VECTORS, 'multi.dump')) });
    assert.equal(r1.code, 0, r1.stderr);
    const d1 = await runProcess('dump', ['-h', a, 'multi.db']);
    assert.equal(d1.stdout, fs.readFileSync(path.join(VECTORS, 'multi.dump'), 'utf8'));
    // Into a directory that holds no environment yet: db_load makes one.
    const r2 = await runProcess('load', ['-h', b, 'copy.db'], { input: d1.out });
    assert.equal(r2.code, 0, r2.stderr);
    const out = path.join(b, 'copy.dump');
    const d2 = await runProcess('dump', ['-f', out, '-h', b, 'copy.db']);
    assert.equal(d2.code, 0, d2.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), d1.stdout);
    // DB_HOME, and a file named with its directory when no home is given.
    const d3 = await runProcess('dump', ['copy.db'], { env: { DB_HOME: b } });
    assert.equal(d3.stdout, d1.stdout);
    const d4 = await runProcess('dump', [path.join(b, 'copy.db')], { cwd: REPO });
    assert.equal(d4.stdout, d1.stdout);
    // A failing dump leaves no output file.
    const d5 = await runProcess('dump', ['-s', 'nosuch', '-f', path.join(b, 'none.dump'), '-h', b, 'copy.db']);
    assert.equal(d5.code, 1);
    assert.ok(!fs.existsSync(path.join(b, 'none.dump')));
    assert.deepEqual(fs.readdirSync(b).filter((n) => n.endsWith('.tmp')), []);
  } finally {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  }
});

test('an environment created through the API dumps as btree with its duplicates mode and reloads the same', async () => {
  const home = tmpDir('api');
  try {
    const env = await Environment.open(home, { create: true, logFileSize: 262144 });
    const plain = await env.openDatabase('api.db', { create: true });
    const dups = await env.openDatabase('api.db', { create: true, name: 'dups', duplicates: 'unsorted' });
    await env.transaction((t) => {
      plain.put(Buffer.from([0]), Buffer.alloc(0), t);
      plain.put(Buffer.from([0xff, 0]), Buffer.alloc(5000, 7), t);
      dups.put('k', 'z', t);
      dups.put('k', 'a', t);
    });
    await env.close();
    const d = await runInProcess('dump', ['-h', home, 'api.db']);
    assert.equal(d.code, 0, d.stderr);
    assert.ok(d.stdout.startsWith(`VERSION=3\nformat=bytevalue\ntype=btree\ndb_pagesize=4096\nHEADER=END\n 00\n \n ff00\n ${'07'.repeat(5000)}\nDATA=END\nVERSION=3\nformat=bytevalue\ndatabase=dups\ntype=btree\nduplicates=1\ndb_pagesize=4096\nHEADER=END\n 6b\n 7a\n 6b\n 61\nDATA=END\n`), d.stdout.slice(0, 300));
    fs.writeFileSync(path.join(home, 'api.dump'), d.stdout);
    assert.equal((await runInProcess('load', ['-h', home, '-f', path.join(home, 'api.dump'), 'again.db'])).code, 0);
    assert.equal((await runInProcess('dump', ['-h', home, 'again.db'])).stdout, d.stdout);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
