// Crafted data files (issue 21 items 2 and 3; red-team findings F11, F12, F13 and §D "wrong
// code, no location"): pages rewritten with valid checksums (and their LSNs kept, so the page
// LSN map still matches) that name impossible page counts, a live page on the free list, a
// branch child in another tree or twice, a descriptor naming the catalog's root, a catalog root
// of 0. Each must give a CorruptionError with the file and offset on get, range, put, db_dump and
// db_verify, bounded in time and memory, and no write may commit over live pages.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from './environment.js';
import type { Database } from './database.js';
import { pageChecksum } from '../page/pager.js';
import { REPO, tmpDir } from '../testing/toolskit.js';
import { CorruptionError } from '../util/errors.js';

const PS = 512;
const key = (i: number) => `key${String(i).padStart(6, '0')}`;
const N = 3000;

let base = '';
const dirs: string[] = [];

// The red team's base (mkbase.mjs): a multi-level tree with overflow values and a named
// sorted-duplicates database in the same file, closed cleanly.
before(async () => {
  base = tmpDir('crafted-base');
  dirs.push(base);
  const env = await Environment.open(base, { create: true, pageSize: PS, logFileSize: 1 << 20 });
  const db = await env.openDatabase('d.db', { create: true });
  const dup = await env.openDatabase('d.db', { name: 'dups', duplicates: 'sorted', create: true });
  await env.transaction((t) => {
    for (let i = 0; i < N; i++) db.put(key(i), i % 100 === 7 ? 'O'.repeat(2000 + i) : `val${i}`, t);
    for (let i = 0; i < 200; i++) dup.put(`dk${i % 20}`, `dv${i}`, t);
  });
  await env.checkpoint();
  await env.close();
});

after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A crafting session over a copy of the base's d.db (craft.mjs in TypeScript). */
class Craft {
  readonly home: string;
  readonly file: string;
  readonly buf: Buffer;
  constructor(name: string) {
    this.home = tmpDir(`crafted-${name}`);
    dirs.push(this.home);
    fs.cpSync(base, this.home, { recursive: true });
    this.file = path.join(this.home, 'd.db');
    this.buf = fs.readFileSync(this.file);
  }
  get pages(): number {
    return this.buf.length / PS;
  }
  page(n: number): Buffer {
    return this.buf.subarray(n * PS, (n + 1) * PS);
  }
  /** Recomputes a page's checksum (its LSN is left alone). */
  fix(n: number): void {
    const p = this.page(n);
    p.writeUInt32LE(pageChecksum(p), 0);
  }
  type(n: number): number {
    return this.page(n)[20]!;
  }
  count(n: number): number {
    return this.page(n).readUInt16LE(22);
  }
  slot(n: number, i: number): number {
    return this.page(n).readUInt16LE(36 + 2 * i);
  }
  children(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count(n); i++) out.push(this.page(n).readUInt32LE(this.slot(n, i)));
    return out;
  }
  get catalogRoot(): number {
    return this.page(0).readUInt32LE(72);
  }
  /** The catalog (a single leaf here): name → descriptor and where its value is. */
  catalog(): Map<string, { root: number; off: number; len: number }> {
    const n = this.catalogRoot;
    const p = this.page(n);
    assert.equal(this.type(n), 3, 'the base catalog is one leaf');
    const out = new Map<string, { root: number; off: number; len: number }>();
    for (let i = 0; i < this.count(n); i++) {
      const o = this.slot(n, i);
      const kl = p.readUInt16LE(o + 1);
      const vl = p.readUInt16LE(o + 3);
      const name = p.toString('utf8', o + 5, o + 5 + kl);
      out.set(name, { root: (JSON.parse(p.toString('utf8', o + 5 + kl, o + 5 + kl + vl)) as { root: number }).root, off: o + 5 + kl, len: vl });
    }
    return out;
  }
  /** Rewrites the descriptor of a database (padded to its length). */
  setDescriptor(name: string, d: object): void {
    const c = this.catalog().get(name)!;
    const s = JSON.stringify(d);
    assert.ok(s.length <= c.len);
    this.page(this.catalogRoot).write(s.padEnd(c.len, ' '), c.off, 'utf8');
    this.fix(this.catalogRoot);
  }
  /** The path from the unnamed database's root to its leftmost leaf. */
  leftPath(): number[] {
    const out = [this.catalog().get('')!.root];
    while (this.type(out.at(-1)!) === 2) out.push(this.children(out.at(-1)!)[0]!);
    return out;
  }
  /** The keys of a leaf (inline keys). */
  leafKeys(n: number): string[] {
    const p = this.page(n);
    const out: string[] = [];
    for (let i = 0; i < this.count(n); i++) {
      const o = this.slot(n, i);
      out.push(p.toString('latin1', o + 5, o + 5 + p.readUInt16LE(o + 1)));
    }
    return out;
  }
  write(): void {
    fs.writeFileSync(this.file, this.buf);
  }
}

/** A tool run as a process, bounded in time, output and memory (a hang or a flood fails the test, and the process is killed). */
function tool(name: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', path.join(REPO, 'bin', `db_${name}.js`), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    maxBuffer: 4 << 20,
    killSignal: 'SIGKILL',
  });
  assert.equal(r.error, undefined, `db_${name} ${args.join(' ')}: ${String(r.error)} (hung or flooded its output)`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Asserts fn throws a CorruptionError located in d.db (optionally at the given offset or inside the given page). */
async function corrupt(fn: () => unknown, file: string, at?: { offset?: number; what?: RegExp }): Promise<CorruptionError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CorruptionError, `expected a CorruptionError, got ${err === undefined ? 'no error' : String(err)}`);
  assert.equal(err.file, file);
  assert.ok(Number.isInteger(err.offset) && err.offset >= 0);
  if (at?.offset !== undefined) assert.equal(err.offset, at.offset, err.message);
  if (at?.what !== undefined) assert.match(err.message, at.what);
  return err;
}

/** Every key of the unnamed database and the dups database, read through a range (sibling links). */
function contents(db: Database, dups: Database): { n: number; dups: number; bad: string[] } {
  const bad: string[] = [];
  let n = 0;
  for (const [k, v] of db.range()) {
    const i = Number(k.toString().slice(3));
    if (k.toString() !== key(i) || v.toString() !== (i % 100 === 7 ? 'O'.repeat(2000 + i) : `val${i}`)) bad.push(k.toString());
    n++;
  }
  return { n, dups: [...dups.range()].length, bad };
}

test('F11: a meta page count beyond the file is reported once, never looped over or allocated for', async () => {
  const c = new Craft('pagecount-huge');
  c.page(0).writeUInt32LE(0xffff_ffff, 64);
  c.fix(0);
  c.write();
  const env = await Environment.open(c.home);
  try {
    await corrupt(() => env.openDatabase('d.db'), c.file, { offset: 64, what: /page count 4294967295 exceeds the file \(\d+ pages\)/ });
  } finally {
    await env.close();
  }
  const v = tool('verify', ['-h', c.home, 'd.db']);
  assert.equal(v.code, 1);
  assert.equal(v.stderr.match(/page count 4294967295 exceeds the file/g)?.length, 1, v.stderr.slice(0, 2000));
  const d = tool('dump', ['-d', 'a', '-h', c.home, 'd.db']);
  assert.equal(d.stdout.match(/exceeds the file/g)?.length, 1);
  assert.ok(d.stdout.split('\n').length <= c.pages + 3, `db_dump -d printed ${d.stdout.split('\n').length} lines for ${c.pages} pages`);
  const s = tool('stat', ['-d', 'd.db', '-h', c.home]);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /exceeds the file/);
});

/** F12: a write that would take a live page fails with CORRUPT before its commit; nothing changed. */
async function noWriteOverLivePages(c: Craft, offset: number, what: RegExp): Promise<void> {
  const before = fs.readFileSync(c.file);
  let env = await Environment.open(c.home);
  try {
    const db = await env.openDatabase('d.db');
    const dups = await env.openDatabase('d.db', { name: 'dups' });
    // An overflow value needs new pages.
    await corrupt(() => db.put('zz-new-key', 'Z'.repeat(1500)), c.file, { offset, what });
    await corrupt(() => env.transaction((t) => db.put('zz-new-key', 'Z'.repeat(1500), t)), c.file, { offset, what });
    assert.equal(db.get('zz-new-key'), undefined);
    assert.deepEqual(contents(db, dups), { n: N, dups: 200, bad: [] });
    await env.checkpoint();
  } finally {
    await env.close();
  }
  // Nothing was committed: the log replays nothing over the tree, the file is as it was.
  env = await Environment.open(c.home);
  try {
    const db = await env.openDatabase('d.db');
    const dups = await env.openDatabase('d.db', { name: 'dups' });
    assert.deepEqual(contents(db, dups), { n: N, dups: 200, bad: [] });
    assert.equal(db.get('zz-new-key'), undefined);
  } finally {
    await env.close();
  }
  assert.ok(fs.readFileSync(c.file).subarray(PS).equals(before.subarray(PS)), 'no page but the meta page changed');
}

test('F12: a free list head naming a live leaf fails the write with CORRUPT before its commit', async () => {
  const c = new Craft('freehead-live');
  const leaf1 = c.page(c.leftPath().at(-1)!).readUInt32LE(24);
  c.page(0).writeUInt32LE(leaf1, 68);
  c.fix(0);
  c.write();
  await noWriteOverLivePages(c, leaf1 * PS + 20, new RegExp(`page ${leaf1} is on the free list but is not a free page \\(type 3\\)`));
  const v = tool('verify', ['-h', c.home, 'd.db']);
  assert.equal(v.code, 1);
  assert.match(v.stderr, new RegExp(`page ${leaf1}: on the free list but it is a leaf page`));
});

test('F12: a page count smaller than the file fails the write with CORRUPT before its commit', async () => {
  const c = new Craft('pagecount-small');
  assert.ok(c.pages > 100);
  c.page(0).writeUInt32LE(2, 64);
  c.fix(0);
  c.write();
  await noWriteOverLivePages(c, 2 * PS, /page 2, past the page count 2 of the meta page, holds data/);
  const v = tool('verify', ['-h', c.home, 'd.db']);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /outside the file's page count/);
});

/** The keys of child 1 of the leftmost leaf's parent, after pointing that child elsewhere. */
function craftChild1(c: Craft, to: (ch: number[]) => number): { branch: number; lost: string[] } {
  const p = c.leftPath();
  const branch = p.at(-2)!;
  const ch = c.children(branch);
  const lost = c.leafKeys(ch[1]!);
  c.page(branch).writeUInt32LE(to(ch), c.slot(branch, 1));
  c.fix(branch);
  c.write();
  return { branch, lost };
}

/** get, range and put of a key whose descent is misdirected: CorruptionError in d.db, never undefined or a write elsewhere. */
async function misdirected(c: Craft, lost: string[]): Promise<void> {
  const env = await Environment.open(c.home);
  try {
    const db = await env.openDatabase('d.db');
    const dups = await env.openDatabase('d.db', { name: 'dups' });
    const dupsBefore = [...dups.range()].map(([k, v]) => `${k}=${v}`);
    for (const k of [lost[0]!, lost.at(-1)!]) {
      await corrupt(() => db.get(k), c.file, { what: /reached from the wrong place/ });
      await corrupt(() => env.transaction((t) => db.get(k, t)), c.file, { what: /reached from the wrong place/ });
      await corrupt(() => [...db.range({ gte: k, limit: 3 })], c.file, { what: /reached from the wrong place/ });
      await corrupt(() => [...db.range({ lte: k, reverse: true, limit: 3 })], c.file, { what: /reached from the wrong place/ });
      await corrupt(() => db.put(k, 'WRITTEN'), c.file, { what: /reached from the wrong place/ });
    }
    // Nothing went into the other database, nothing was committed.
    assert.deepEqual([...dups.range()].map(([k, v]) => `${k}=${v}`), dupsBefore);
    assert.equal(dups.verify().length, 0);
    // Keys elsewhere still read.
    assert.equal(db.get(key(N - 1))?.toString(), `val${N - 1}`);
  } finally {
    await env.close();
  }
  const d = tool('dump', ['-h', c.home, 'd.db']);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /d\.db at offset \d+: /);
  const v = tool('verify', ['-h', c.home, 'd.db']);
  assert.equal(v.code, 1);
  // db_stat -d walks the pages: a damaged tree is reported, never counted as if sound.
  const s = tool('stat', ['-d', 'd.db', '-h', c.home]);
  assert.notEqual(s.code, 0, `db_stat -d exited 0:\n${s.stdout}`);
  assert.match(s.stderr, /d\.db at offset \d+: .*run db_verify/);
}

test('F13: a branch child pointing at another database\'s root is a CorruptionError on get, range and put', async () => {
  const c = new Craft('child-otherdb');
  const { lost } = craftChild1(c, () => c.catalog().get('dups')!.root);
  await misdirected(c, lost);
});

test('F13: a branch child pointer duplicated is a CorruptionError on get, range and put', async () => {
  const c = new Craft('child-sibling');
  const { lost } = craftChild1(c, (ch) => ch[0]!);
  await misdirected(c, lost);
});

test('F13: a descriptor whose root is the catalog\'s root is a CorruptionError on open and in db_dump', async () => {
  const c = new Craft('desc-root-catalog');
  const cat = c.catalogRoot;
  c.setDescriptor('', { root: cat, dup: 'none' });
  c.write();
  const before = fs.readFileSync(c.file);
  const env = await Environment.open(c.home);
  try {
    await corrupt(() => env.openDatabase('d.db'), c.file, { offset: cat * PS, what: /root page \d+ is the catalog's root/ });
    await corrupt(() => env.removeDatabase('d.db', ''), c.file, { offset: cat * PS, what: /is the catalog's root/ });
    // The other database still opens and reads.
    const dups = await env.openDatabase('d.db', { name: 'dups' });
    assert.equal([...dups.range()].length, 200);
  } finally {
    await env.close();
  }
  assert.ok(fs.readFileSync(c.file).equals(before));
  const d = tool('dump', ['-h', c.home, 'd.db']);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /CORRUPT|is the catalog's root/);
  assert.doesNotMatch(d.stdout, /"root"/, 'catalog entries dumped as user data');
  const v = tool('verify', ['-h', c.home, 'd.db']);
  assert.equal(v.code, 1);
  assert.match(v.stderr, /is the catalog's root/);
  const s = tool('stat', ['-d', 'd.db', '-h', c.home]);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /is the catalog's root/);
});

test('a descriptor whose root is another database\'s root is a CorruptionError on open, never that database\'s data (found by the fuzzer)', async () => {
  const c = new Craft('desc-root-other');
  const plain = c.catalog().get('')!.root;
  c.setDescriptor('dups', { root: plain, dup: 'sorted' });
  c.write();
  const before = fs.readFileSync(c.file);
  const env = await Environment.open(c.home);
  try {
    const cat = c.catalogRoot;
    await corrupt(() => env.openDatabase('d.db', { name: 'dups' }), c.file, { offset: cat * PS, what: new RegExp(`root page ${plain} is also the root of database ""`) });
    await corrupt(() => env.openDatabase('d.db'), c.file, { offset: cat * PS, what: /is also the root of database "dups"/ });
  } finally {
    await env.close();
  }
  assert.ok(fs.readFileSync(c.file).equals(before));
});

test('catalog root 0 and descriptor root 0 are CORRUPT with the file and offset, not INVALID_ARGUMENT', async () => {
  const c = new Craft('catroot-0');
  c.page(0).writeUInt32LE(0, 72);
  c.fix(0);
  c.write();
  let env = await Environment.open(c.home);
  try {
    await corrupt(() => env.openDatabase('d.db'), c.file, { offset: 72, what: /catalog root 0 is not a page of the file/ });
  } finally {
    await env.close();
  }
  const d = tool('dump', ['-h', c.home, 'd.db']);
  assert.notEqual(d.code, 0);
  assert.match(d.stderr, /d\.db at offset 72: catalog root 0/);

  const c2 = new Craft('desc-root-0');
  c2.setDescriptor('', { root: 0, dup: 'none' });
  c2.write();
  env = await Environment.open(c2.home);
  try {
    await corrupt(() => env.openDatabase('d.db'), c2.file, { offset: c2.catalogRoot * PS, what: /root page number 0 is not a page number/ });
  } finally {
    await env.close();
  }
});
