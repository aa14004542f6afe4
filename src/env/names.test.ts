// Data file names (issue 16 items 6, 7 and the db_load temporary file; red-team F6): every API
// entry point that takes a data file name accepts only a plain name in the data directories —
// absolute paths, '..', subdirectories, reserved names and symbolic links out of the home are
// INVALID_ARGUMENT with one line, and nothing is created or changed, inside or outside. A new
// data file is on disk from the commit that created it (db_archive -s lists it at once). A
// killed db_load's temporary file does not outlive the next open.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from './environment.js';
import '../backup/register.js'; // env.hotBackup(), env.archive()
import { CairnError } from '../util/errors.js';
import { readMeta } from '../page/meta.js';
import { REPO, killedAfterReady, runProcess, snapshot, tmpDir } from '../testing/toolskit.js';

const SMALL_LOG = { logFileSize: 64 * 1024 };

function badNames(base: string): string[] {
  return [
    path.join(base, 'outside', 'abs.db'),
    path.join(base, 'outside', 'victim.txt'),
    '../outside/up.db',
    '../outside/victim.txt',
    'nodir/../../outside/trav.db',
    'sub/n.db',
    'sub\\n.db',
    '/etc/passwd',
    '/dev/null',
    '.',
    '..',
    '',
    ' ',
    '\n',
    'a\0b.db',
    'tab\t.db',
    ' lead.db',
    'trail.db ',
    'x'.repeat(300),
    '__cairn.control',
    '__cairn.lock',
    'DB_CONFIG',
    'log.0000000001',
    'foo.tmp',
    'link.db', // a symbolic link to outside/victim.txt
    'dangling.db', // a symbolic link to outside/none.db (does not exist)
  ];
}

const isInvalid = (e: unknown): boolean => {
  assert.ok(e instanceof CairnError, String(e));
  assert.equal(e.code, 'INVALID_ARGUMENT', e.message);
  assert.doesNotMatch(e.message, /\n/);
  return true;
};

test('every API entry point refuses names that leave the data directories, with INVALID_ARGUMENT, and changes nothing', async () => {
  const base = tmpDir('names-api');
  const home = path.join(base, 'home');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(path.join(outside, 'victim.txt'), 'not a database\n'.repeat(100));
  const env = await Environment.open(home, { create: true, ...SMALL_LOG });
  try {
    fs.symlinkSync(path.join(outside, 'victim.txt'), path.join(home, 'link.db'));
    fs.symlinkSync(path.join(outside, 'none.db'), path.join(home, 'dangling.db'));
    const ok = await env.openDatabase('ok.db', { create: true });
    await ok.put('k', 'v');
    const outsideBefore = snapshot(outside);
    const homeBefore = fs.readdirSync(home).sort();
    for (const name of badNames(base)) {
      const what = JSON.stringify(name.slice(0, 40));
      await assert.rejects(env.openDatabase(name, { create: true }), isInvalid, `openDatabase create ${what}`);
      await assert.rejects(env.openDatabase(name), isInvalid, `openDatabase ${what}`);
      await assert.rejects(env.removeDatabase(name), isInvalid, `removeDatabase ${what}`);
      await assert.rejects(env.renameDatabase(name, undefined, 'renamed.db'), isInvalid, `renameDatabase from ${what}`);
      await assert.rejects(env.renameDatabase('ok.db', undefined, name), isInvalid, `renameDatabase to ${what}`);
      assert.throws(() => env.listDatabases(name), isInvalid, `listDatabases ${what}`);
    }
    assert.deepEqual(snapshot(outside), outsideBefore);
    assert.deepEqual(fs.readdirSync(home).sort(), homeBefore);
    // db_load's temporary names are db_load's alone.
    await assert.rejects(env.openDatabase('.db_load.1.x.db', { create: true }), isInvalid);
    // Plain names still work, and the checkpoint that used to panic on a subdirectory runs.
    for (const name of ['with space.db', 'ünïcödé.db', '.hidden.db', 'log.db', 'x'.repeat(255)]) {
      const db = await env.openDatabase(name, { create: true });
      await db.put('k', name);
    }
    await env.renameDatabase('ok.db', undefined, 'ok2.db');
    await env.checkpoint();
    assert.equal(String((await env.openDatabase('ok2.db')).get('k')), 'v');
    assert.deepEqual(snapshot(outside), outsideBefore);
  } finally {
    await env.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('db_load refuses a db_file that leaves the data directories and changes nothing', async () => {
  const base = tmpDir('names-load');
  const home = path.join(base, 'home');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  const dump = path.join(base, 'in.dump');
  fs.writeFileSync(dump, 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n a\n 1\nDATA=END\n');
  try {
    const env = await Environment.open(home, { create: true, ...SMALL_LOG });
    await env.close();
    const before = snapshot(base);
    for (const name of [path.join(outside, 'abs.db'), '../outside/up.db', 'sub/x.db', '__cairn.pages', '.db_load.7.x.db']) {
      const r = await runProcess('load', ['-h', home, '-f', dump, name]);
      assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
      assert.match(r.stderr, /database file name/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.deepEqual(snapshot(base), before);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('a new data file is on disk from the commit that created it: the file, its meta page, env.archive and db_archive -s (live owner), before any checkpoint', async () => {
  const base = tmpDir('names-create');
  const home = path.join(base, 'home');
  const env = await Environment.open(home, { create: true, checkpoint: false, ...SMALL_LOG });
  try {
    const db = await env.openDatabase('fresh.db', { create: true });
    await db.put('k', 'v');
    const p = path.join(home, 'fresh.db');
    assert.ok(fs.existsSync(p), 'the data file exists after its creating commit');
    const meta = readMeta(fs.readFileSync(p).subarray(0, env.pageSize), p);
    assert.equal(meta.pageSize, env.pageSize);
    assert.deepEqual(meta.envId, env.envId);
    assert.ok((await env.archive({ data: true })).includes('fresh.db'));
    const r = await runProcess('archive', ['-s', '-h', home]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.split('\n').includes('fresh.db'), r.stdout);
  } finally {
    await env.close();
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test("a killed db_load's temporary file is removed by the next open, after recovery", async () => {
  const base = tmpDir('names-temp');
  const home = path.join(base, 'home');
  try {
    await (await Environment.open(home, { create: true, ...SMALL_LOG })).close();
    // What a db_load killed half way leaves: its temporary file, made by committed transactions, and a dead owner.
    const script = `
      const { Environment } = await import(${JSON.stringify(path.join(REPO, 'dist', 'index.js'))});
      const env = await Environment.open(${JSON.stringify(home)}, { checkpoint: false });
      const db = await env.openDatabase('.db_load.' + process.pid + '.out.db', { create: true, temporary: true });
      for (let i = 0; i < 100; i++) await db.put('k' + i, 'v' + i);
      console.log('READY');
      setInterval(() => {}, 1000);`;
    await killedAfterReady(script);
    const temp = fs.readdirSync(home).find((n) => n.startsWith('.db_load.'));
    assert.ok(temp !== undefined, 'the killed load left its temporary file');
    const rec = await runProcess('recover', ['-h', home]);
    assert.equal(rec.code, 0, rec.stderr);
    const env = await Environment.open(home, SMALL_LOG);
    try {
      assert.ok(!fs.existsSync(path.join(home, temp)), 'removed at open');
      assert.ok(!(await env.archive({ data: true })).some((n) => n.startsWith('.db_load.')));
    } finally {
      await env.close();
    }
    // The removal was committed: catastrophic recovery of the whole log does not bring it back.
    await Environment.recover(home, { catastrophic: true });
    assert.ok(!fs.existsSync(path.join(home, temp)));
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
