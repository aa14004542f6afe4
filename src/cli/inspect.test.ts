// db_stat and db_printlog (issue 5): Berkeley DB's shape (value TAB description), --json with
// the same figures, one log line per record from the record table, LSN bounds, newest first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { RECORD_TABLE } from '../log/records.js';
import { runInProcess, runProcess, tmpDir } from '../testing/toolskit.js';

const RULE = /^(=-)+=?$/;

async function build(home: string): Promise<void> {
  const env = await Environment.open(home, { create: true, logFileSize: 1 << 20 });
  const db = await env.openDatabase('a.db', { create: true });
  const dups = await env.openDatabase('a.db', { create: true, name: 'dups', duplicates: 'unsorted' });
  for (let batch = 0; batch < 5; batch++) {
    await env.transaction((t) => {
      for (let i = 0; i < 400; i++) db.put(`k${batch}-${String(i).padStart(4, '0')}`, Buffer.alloc(i % 100 === 0 ? 6000 : 80, i), t);
      for (let i = 0; i < 20; i++) dups.put(`d${i % 5}`, `v${batch}-${i}`, t);
    });
  }
  await env.transaction((t) => {
    for (let i = 0; i < 300; i++) db.del(`k1-${String(i).padStart(4, '0')}`, t);
  });
  await env.checkpoint();
  await env.close();
}

function statLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.trimEnd().split('\n')) {
    if (RULE.test(line)) continue;
    const m = /^([^\t]+)\t([^\t]+)$/.exec(line);
    assert.ok(m, `not "value<TAB>description": ${JSON.stringify(line)}`);
    out.set(m[2]!, m[1]!);
  }
  return out;
}

test('db_stat: -d per database, -e/-l/-t/-m from the files at rest, --json with the same figures', async () => {
  const home = tmpDir('stat');
  try {
    await build(home);
    const d = await runProcess('stat', ['-h', home, '-d', 'a.db', '-s', '']);
    assert.equal(d.code, 0, d.stderr);
    const s = statLines(d.stdout);
    assert.equal(s.get('Number of unique keys in the tree'), '1700');
    assert.equal(s.get('Number of data items in the tree'), '1700');
    assert.equal(s.get('Underlying database page size'), '4096');
    assert.ok(Number(s.get('Number of levels in the tree')) >= 2);
    assert.ok(Number(s.get('Number of tree internal pages')) >= 1);
    assert.ok(Number(s.get('Number of tree overflow pages')) >= 20);
    assert.ok(Number(s.get('Number of pages on the free list')) >= 1);
    assert.equal(s.get('Flags'), 'multiple-databases');

    const all = await runInProcess('stat', ['-h', home, '-d', 'a.db']);
    assert.equal(all.code, 0, all.stderr);
    const blocks = all.stdout.split(/^=-[=-]+\n/m);
    assert.equal(blocks.length, 2);
    const dupStat = statLines(blocks[1]!);
    assert.equal(dupStat.get('Database name'), 'dups');
    assert.equal(dupStat.get('Number of unique keys in the tree'), '5');
    assert.equal(dupStat.get('Number of data items in the tree'), '100');
    assert.equal(dupStat.get('Flags'), 'multiple-databases, duplicates');
    const fast = statLines((await runInProcess('stat', ['-h', home, '-f', '-d', 'a.db', '-s', 'dups'])).stdout);
    assert.equal(fast.get('Number of data items in the tree'), '0');

    const json = await runInProcess('stat', ['-h', home, '-d', 'a.db', '--json']);
    const parsed = JSON.parse(json.stdout) as { file: { pageSize: number; pages: number; freePages: number; databases: Array<{ name: string; keys: number; items: number; levels: number; leaf: { pages: number } }> } };
    assert.equal(parsed.file.databases[0]!.keys, 1700);
    assert.equal(parsed.file.databases[1]!.items, 100);
    assert.equal(String(parsed.file.freePages), s.get('Number of pages on the free list'));
    assert.equal(String(parsed.file.databases[0]!.leaf.pages), s.get('Number of tree leaf pages'));

    const e = await runProcess('stat', ['-h', home, '-e']);
    assert.equal(e.code, 0, e.stderr);
    const env = statLines(e.stdout);
    assert.equal(env.get('Environment home'), home);
    assert.equal(env.get('Environment state (control file)'), 'closed');
    assert.equal(env.get('Owner process ID'), 'none');
    assert.equal(env.get('Current log file number'), '1');
    assert.match(env.get('File/offset for last checkpoint LSN')!, /^1\/\d+$/);
    assert.match(env.get('Last commit time (db_recover -t syntax)')!, /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \(\d{12}\.\d{2}\)$/);
    assert.equal(env.get('Pool File'), 'a.db');
    assert.equal(env.get('Current log file size'), '1MB');
    for (const [flag, key] of [['-l', 'Current log file offset'], ['-t', 'Checkpoint timestamp'], ['-m', 'Total cache size']] as const) {
      const r = await runInProcess('stat', ['-h', home, flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(statLines(r.stdout).get(key), env.get(key), flag);
    }
    const j = JSON.parse((await runInProcess('stat', ['-h', home, '-e', '--json'])).stdout) as { environment: { state: string }; log: { end: { offset: number } }; txn: { lastCommitRecoverTime: string }; cache: { files: Array<{ name: string }> } };
    assert.equal(j.environment.state, 'closed');
    assert.equal(String(j.log.end.offset), env.get('Current log file offset'));
    assert.match(j.txn.lastCommitRecoverTime, /^\d{12}\.\d{2}$/);
    assert.deepEqual(j.cache.files.map((f) => f.name), ['a.db']);

    // Not an environment, a missing file, -d with a database that is not there.
    const bare = tmpDir('stat-bare');
    try {
      const r = await runInProcess('stat', ['-h', bare, '-e']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^db_stat: .* is not a cairn environment \(no __cairn\.control\)/);
      assert.deepEqual(fs.readdirSync(bare), []);
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
    }
    const nodb = await runInProcess('stat', ['-h', home, '-d', 'a.db', '-s', 'nosuch']);
    assert.equal(nodb.code, 1);
    assert.match(nodb.stderr, /no database named "nosuch"/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('db_printlog: one line per record from the record table, commit times in db_recover -t syntax, -b/-e/-r', async () => {
  const home = tmpDir('printlog');
  try {
    await build(home);
    const all = await runProcess('printlog', ['-h', home]);
    assert.equal(all.code, 0, all.stderr);
    const lines = all.stdout.trimEnd().split('\n');
    assert.ok(lines.length > 20);
    const types = new Set<string>();
    let prev = -1;
    for (const line of lines) {
      const m = /^\[(\d+)\]\[(\d+)\] (\w+): \w+=/.exec(line);
      assert.ok(m, line);
      const lsn = Number(m[1]) * 2 ** 32 + Number(m[2]);
      assert.ok(lsn > prev, 'in LSN order');
      prev = lsn;
      assert.ok(m[3]! in RECORD_TABLE, m[3]);
      types.add(m[3]!);
      // The fields are the table's, in its order.
      const fields = [...line.matchAll(/ (\w+)=/g)].map((x) => x[1]);
      assert.deepEqual(fields, Object.keys(RECORD_TABLE[m[3] as keyof typeof RECORD_TABLE].fields), line);
    }
    for (const t of ['file_create', 'page_image', 'commit', 'checkpoint']) assert.ok(types.has(t), t);
    const commit = lines.find((l) => l.includes(' commit: '))!;
    assert.match(commit, / time=\d{12}\.\d{2} /);

    // -b / -e are inclusive; an offset inside a record starts at the next one; -r reverses.
    const lsnOf = (l: string) => /^\[(\d+)\]\[(\d+)\]/.exec(l)!.slice(1).join('/');
    const from = lsnOf(lines[3]!);
    const to = lsnOf(lines[7]!);
    const mid = await runInProcess('printlog', ['-h', home, '-b', from, '-e', to]);
    assert.deepEqual(mid.stdout.trimEnd().split('\n'), lines.slice(3, 8));
    const [f3, o3] = from.split('/');
    const inside = await runInProcess('printlog', ['-h', home, '-b', `[${f3}][${Number(o3) + 1}]`, '-e', to]);
    assert.deepEqual(inside.stdout.trimEnd().split('\n'), lines.slice(4, 8));
    const rev = await runInProcess('printlog', ['-r', '-h', home]);
    assert.deepEqual(rev.stdout.trimEnd().split('\n'), [...lines].reverse());
    const past = await runInProcess('printlog', ['-h', home, '-b', '999/0']);
    assert.equal(past.code, 0);
    assert.equal(past.stdout, '');

    // A damaged record: the records before it are printed, then one error line, exit 1.
    const log = path.join(home, 'log.0000000001');
    const [, off] = lsnOf(lines[5]!).split('/');
    const fd = fs.openSync(log, 'r+');
    fs.writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, Number(off) + 12);
    fs.closeSync(fd);
    const bad = await runProcess('printlog', ['-h', home]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.deepEqual(bad.stdout.trimEnd().split('\n'), lines.slice(0, 5));
    assert.equal(bad.stderr.split('\n').length, 2, bad.stderr);
    assert.match(bad.stderr, /^db_printlog: .*log\.0000000001 at offset \d+: /);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
