// Crafted log records (issue 16 items 6 and 9, red-team F5 and F14): records with valid
// checksums appended to a closed environment's log name files outside the environment, a
// subdirectory, a symbolic link out of it, or carry a commit time that is not a time. Through
// normal recovery at open and through the real `db_recover -c`, recovery refuses each as a
// CorruptionError naming the record (log file and offset), and nothing outside the environment
// is created, written, removed or renamed. The environment stays recoverable: the control file
// is never written with a value its reader refuses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { CorruptionError } from '../util/errors.js';
import { AssertionError } from '../util/assert.js';
import { appendRecords, metaImage, type Craft, type Crafted } from '../testing/logcraft.js';
import { readControl, writeControl } from './control.js';
import { nodeVfs } from '../io/node.js';
import { runProcess, snapshot, tmpDir } from '../testing/toolskit.js';

const UID = 3_000_000_123;

interface Case {
  name: string;
  /** The records, given the environment id and the victim's absolute path. */
  records: (envId: string, victim: string) => Craft[];
  /** Index of the record recovery must refuse. */
  bad: number;
  /** Also through the real db_recover -c (one case per record type: each spawns a process). */
  cli?: boolean;
  /** A symbolic link to make in the home first: [name in home, target]. */
  link?: (victim: string) => [string, string];
  /** A file of the operator's to put in the home first: it must survive as it is. */
  homeFile?: string;
}

const image = (envId: string): Craft => ({ type: 'page_image', file: UID, pgno: 0, image: metaImage(envId, UID) });
const CASES: Case[] = [
  { name: 'file_create with an absolute path (overwrite)', records: (e, v) => [{ type: 'file_create', file: UID, name: v, pageSize: 512 }, image(e), { type: 'commit' }], bad: 0, cli: true },
  { name: "file_create with '..' (overwrite)", records: (e) => [{ type: 'file_create', file: UID, name: '../outside/victim.txt', pageSize: 512 }, image(e), { type: 'commit' }], bad: 0 },
  { name: 'file_create of a new file outside', records: (e) => [{ type: 'file_create', file: UID, name: '../outside/new.db', pageSize: 512 }, image(e), { type: 'commit' }], bad: 0 },
  { name: 'file_create in a subdirectory', records: (e) => [{ type: 'file_create', file: UID, name: 'sub/x.db', pageSize: 512 }, image(e), { type: 'commit' }], bad: 0 },
  { name: 'file_create through a symbolic link out of the home', records: (e) => [{ type: 'file_create', file: UID, name: 'link.db', pageSize: 512 }, image(e), { type: 'commit' }], bad: 0, link: (v) => ['link.db', v], cli: true },
  { name: 'file_create with a page size cairn never makes', records: (e) => [{ type: 'file_create', file: UID, name: 'ps.db', pageSize: 3 }, image(e), { type: 'commit' }], bad: 0 },
  { name: 'file_remove naming a file outside (delete)', records: (e, v) => [{ type: 'file_create', file: UID, name: 'ok.db', pageSize: 512 }, image(e), { type: 'file_remove', file: UID, name: v }, { type: 'commit' }], bad: 2, cli: true },
  { name: 'file_rename to a path outside (rename over the victim)', records: (e) => [{ type: 'file_create', file: UID, name: 'ok.db', pageSize: 512 }, image(e), { type: 'file_rename', file: UID, name: 'ok.db', newName: '../outside/victim.txt' }, { type: 'commit' }], bad: 2, cli: true },
  { name: 'file_rename over a file in the home that is not a data file', records: (e) => [{ type: 'file_create', file: UID, name: 'ok.db', pageSize: 512 }, image(e), { type: 'file_rename', file: UID, name: 'ok.db', newName: 'notes.txt' }, { type: 'commit' }], bad: 2, homeFile: 'notes.txt' },
  { name: 'file_rename from a path outside', records: (e, v) => [{ type: 'file_create', file: UID, name: 'ok.db', pageSize: 512 }, image(e), { type: 'file_rename', file: UID, name: v, newName: 'moved.db' }, { type: 'commit' }], bad: 2 },
  { name: 'commit time NaN (F14)', records: () => [{ type: 'commit', time: NaN }], bad: 0, cli: true },
  { name: 'commit time Infinity', records: () => [{ type: 'commit', time: Infinity }], bad: 0 },
  { name: 'commit time before 1970', records: () => [{ type: 'commit', time: -1 }], bad: 0 },
];

interface Setup {
  base: string;
  home: string;
  outside: string;
  victim: string;
  before: Map<string, string>;
  crafted: Crafted[];
  homeFile: string | undefined;
}

const NOTES = "the operator's notes, kept in the home\n";

async function setup(c: Case, crash: boolean): Promise<Setup> {
  const base = tmpDir('crafted');
  const home = path.join(base, 'home');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(outside);
  const victim = path.join(outside, 'victim.txt');
  fs.writeFileSync(victim, 'the operator\'s file, which recovery must never touch\n'.repeat(40));
  const env = await Environment.open(home, { create: true, logFileSize: 64 * 1024 });
  const db = await env.openDatabase('data.db', { create: true });
  await db.put('k', 'v');
  await env.close();
  if (c.link) {
    const [n, target] = c.link(victim);
    fs.symlinkSync(target, path.join(home, n));
  }
  if (c.homeFile) fs.writeFileSync(path.join(home, c.homeFile), NOTES);
  const control = readControl(nodeVfs, home)!;
  const crafted = appendRecords(home, c.records(control.envId, victim), { crash });
  return { base, home, outside, victim, before: snapshot(outside), crafted, homeFile: c.homeFile };
}

function checkOutside(s: Setup): void {
  assert.deepEqual(snapshot(s.outside), s.before, 'nothing outside the environment changed');
  assert.ok(!fs.existsSync(path.join(s.home, 'sub')), 'no subdirectory made');
  if (s.homeFile) assert.equal(fs.readFileSync(path.join(s.home, s.homeFile), 'utf8'), NOTES);
}

for (const c of CASES) {
  test(`crafted ${c.name}: normal recovery at open refuses the record, nothing outside changes`, async () => {
    const s = await setup(c, true);
    try {
      const bad = s.crafted[c.bad]!;
      await assert.rejects(Environment.open(s.home), (e: unknown) => {
        assert.ok(e instanceof CorruptionError, `a CorruptionError, got ${String(e)}`);
        assert.equal(e.file, bad.file);
        assert.equal(e.offset, bad.offset);
        assert.match(e.message, new RegExp(`${bad.type} record`));
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
      checkOutside(s);
      // The control file was never written with a value its reader refuses (F14).
      assert.doesNotThrow(() => readControl(nodeVfs, s.home));
    } finally {
      fs.rmSync(s.base, { recursive: true, force: true });
    }
  });

  if (c.cli) test(`crafted ${c.name}: db_recover -c refuses the record, nothing outside changes, and the environment recovers once the log is put right`, async () => {
    const s = await setup(c, false);
    try {
      const bad = s.crafted[c.bad]!;
      const r = await runProcess('recover', ['-c', '-h', s.home]);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, new RegExp(`${bad.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} at offset ${bad.offset}: ${bad.type} record`));
      checkOutside(s);
      assert.doesNotThrow(() => readControl(nodeVfs, s.home));
      // The crafted records zeroed (the log as it was): recovery and open work again.
      const fd = fs.openSync(s.crafted[0]!.file, 'r+');
      fs.writeSync(fd, Buffer.alloc(64 * 1024), 0, 64 * 1024, s.crafted[0]!.offset);
      fs.closeSync(fd);
      await Environment.recover(s.home, { catastrophic: true });
      const env = await Environment.open(s.home);
      assert.equal(String((await env.openDatabase('data.db')).get('k')), 'v');
      await env.close();
      checkOutside(s);
    } finally {
      fs.rmSync(s.base, { recursive: true, force: true });
    }
  });
}

test('a crafted transaction id 0xffffffff recovers, and the environment opens afterwards (nextTxn wraps, F14)', async () => {
  const base = tmpDir('crafted-txn');
  const home = path.join(base, 'home');
  try {
    const env = await Environment.open(home, { create: true, logFileSize: 64 * 1024 });
    await (await env.openDatabase('data.db', { create: true })).put('k', 'v');
    await env.close();
    appendRecords(home, [{ type: 'commit' }], { txn: 0xffff_ffff });
    const r = await runProcess('recover', ['-c', '-h', home]);
    assert.equal(r.code, 0, r.stderr);
    const again = await Environment.open(home);
    const db = await again.openDatabase('data.db');
    await db.put('k2', 'v2');
    assert.equal(String(db.get('k')), 'v');
    await again.close();
    assert.ok(readControl(nodeVfs, home)!.nextTxn < 2 ** 32);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});

test('writeControl refuses (assertion) a control file its reader would refuse, leaving the old one', async () => {
  const base = tmpDir('crafted-ctl');
  const home = path.join(base, 'home');
  try {
    const env = await Environment.open(home, { create: true, logFileSize: 64 * 1024 });
    await env.close();
    const c = readControl(nodeVfs, home)!;
    const bytes = fs.readFileSync(path.join(home, '__cairn.control'));
    for (const bad of [{ lastCommit: NaN }, { nextTxn: 2 ** 32 }, { redo: -1 }, { logFileSize: 7 }]) {
      assert.throws(() => writeControl(nodeVfs, home, { ...c, ...bad }), AssertionError);
      assert.deepEqual(fs.readFileSync(path.join(home, '__cairn.control')), bytes);
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
