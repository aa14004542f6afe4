// db_verify's whole-file checker (verifyDataFile) over a Vfs: a data file on SimVfs verifies,
// and a damaged page on it (a changed byte with its checksum fixed, or a bad checksum) is
// reported with its page. RawDataFile's open errors are the same on SimVfs and the real file system.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BTree } from '../btree/btree.js';
import { Environment } from '../env/environment.js';
import { SimVfs } from '../io/sim.js';
import { PageType } from '../page/format.js';
import { pageChecksum } from '../page/pager.js';
import { CairnError } from '../util/errors.js';
import { RawDataFile, verifyDataFile } from './datafile.js';

const FILE = '/env/data.db';

/** A closed environment on SimVfs with a data file of several leaves. */
async function build(): Promise<SimVfs> {
  const vfs = new SimVfs();
  const env = await Environment.open('/env', { create: true, vfs, pageSize: 1024 });
  const db = await env.openDatabase('data.db', { create: true });
  await env.transaction((t) => {
    for (let i = 0; i < 300; i++) db.put(`key${String(i).padStart(4, '0')}`, `value ${i}`, t);
  });
  await env.close();
  return vfs;
}

/** A copy of `vfs` with page `pgno` of FILE edited (its checksum recomputed when `fix`). */
function edited(vfs: SimVfs, pageSize: number, pgno: number, edit: (b: Buffer) => void, fix: boolean): SimVfs {
  const copy = SimVfs.fromFiles(vfs.snapshotFiles());
  const h = copy.open(FILE);
  try {
    const buf = Buffer.alloc(pageSize);
    h.read(buf, pgno * pageSize);
    edit(buf);
    if (fix) buf.writeUInt32LE(pageChecksum(buf), 0);
    h.write(buf, pgno * pageSize);
  } finally {
    h.close();
  }
  return copy;
}

test('verifyDataFile over SimVfs: a sound file verifies; a changed leaf and a bad checksum are reported with the page', async () => {
  const vfs = await build();
  const sound = verifyDataFile(FILE, { vfs });
  assert.deepEqual(sound.problems, []);
  assert.equal(sound.databases, 1);

  const raw = RawDataFile.open(FILE, vfs);
  const leaves: number[] = [];
  try {
    const root = raw.catalog().find((e) => e.name === '')!.desc.root;
    new BTree(root, 'none').walkPages(raw, (pgno, type) => {
      if (type === PageType.Leaf) leaves.push(pgno);
    });
  } finally {
    raw.close();
  }
  assert.ok(leaves.length >= 3, `leaves ${leaves.join(',')}`);
  assert.equal(sound.pages, raw.meta.pageCount);
  const leaf = leaves[1]!;

  // The first two slots swapped, the checksum fixed: only the tree check can see it.
  const swapped = edited(vfs, raw.pageSize, leaf, (b) => {
    const s0 = b.readUInt16LE(36);
    b.writeUInt16LE(b.readUInt16LE(38), 36);
    b.writeUInt16LE(s0, 38);
  }, true);
  const r1 = verifyDataFile(FILE, { vfs: swapped });
  assert.ok(r1.problems.some((p) => p.pgno === leaf && /entry 1 not above entry 0/.test(p.what)), JSON.stringify(r1.problems));

  // A changed byte, the checksum left as it was.
  const rotten = edited(vfs, raw.pageSize, leaf, (b) => void (b[raw.pageSize - 5]! ^= 0x5a), false);
  const r2 = verifyDataFile(FILE, { vfs: rotten });
  assert.ok(r2.problems.some((p) => p.pgno === leaf && p.what === 'page checksum mismatch'), JSON.stringify(r2.problems));

  // The original is untouched by the copies.
  assert.deepEqual(verifyDataFile(FILE, { vfs }).problems, []);
});

test('RawDataFile.open: a missing file is NOT_FOUND and a directory INVALID_ARGUMENT, on SimVfs and on the real file system', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-datafile-'));
  try {
    const sim = SimVfs.fromFiles(new Map([['/env/x', Buffer.alloc(1)]]));
    for (const [vfs, base] of [[sim, '/env'], [undefined, dir]] as const) {
      const missing = path.join(base, 'nosuch.db');
      assert.throws(() => RawDataFile.open(missing, vfs), (e: unknown) => e instanceof CairnError && e.code === 'NOT_FOUND' && e.message === `${missing}: No such file or directory`);
      assert.throws(() => RawDataFile.open(base, vfs), (e: unknown) => e instanceof CairnError && e.code === 'INVALID_ARGUMENT' && e.message === `${base} is a directory, not a data file`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
