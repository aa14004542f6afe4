// db_verify (issue 5): a sound environment verifies; a fault planted in each kind of page
// (meta, leaf, branch, overflow, free) of a closed environment's data file is found, with the
// page named, and exit status 1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BTree } from '../btree/btree.js';
import { Environment } from '../env/environment.js';
import { PageOffset, PageType } from '../page/format.js';
import { MetaOffset } from '../page/meta.js';
import { pageChecksum } from '../page/pager.js';
import { RawDataFile } from '../tools/datafile.js';
import { runInProcess, runProcess, tmpDir } from '../testing/toolskit.js';
import { randBytes, rng } from '../util/random.js';

interface Layout {
  pageSize: number;
  pageCount: number;
  leaves: number[];
  branches: number[];
  overflow: number[];
  free: number[];
}

/** An environment with a multi-level tree, overflow chains and a free list; closed. */
async function build(home: string): Promise<void> {
  const env = await Environment.open(home, { create: true, logFileSize: 1 << 20 });
  const db = await env.openDatabase('data.db', { create: true });
  const r = rng(11);
  await env.transaction((t) => {
    for (let i = 0; i < 3000; i++) db.put(`key${String(i).padStart(6, '0')}`, i % 97 === 0 ? randBytes(r, 9000) : randBytes(r, 60), t);
  });
  const sub = await env.openDatabase('data.db', { create: true, name: 'second', duplicates: 'sorted' });
  await env.transaction((t) => {
    for (let i = 0; i < 200; i++) sub.put(`k${i % 20}`, `v${i}`, t);
  });
  await env.transaction((t) => {
    for (let i = 1000; i < 1600; i++) db.del(`key${String(i).padStart(6, '0')}`, t);
  });
  await env.close();
}

function layoutOf(file: string): Layout {
  const raw = RawDataFile.open(file);
  try {
    const out: Layout = { pageSize: raw.pageSize, pageCount: raw.meta.pageCount, leaves: [], branches: [], overflow: [], free: [] };
    const root = raw.catalog().find((e) => e.name === '')!.desc.root;
    new BTree(root, 'none').walkPages(raw, (pgno, type) => {
      if (type === PageType.Leaf) out.leaves.push(pgno);
      else if (type === PageType.Branch) out.branches.push(pgno);
      else out.overflow.push(pgno);
    });
    for (let p = raw.meta.freeHead; p !== 0; p = raw.rawPage(p).readUInt32LE(PageOffset.next)) out.free.push(p);
    return out;
  } finally {
    raw.close();
  }
}

function editPage(file: string, pageSize: number, pgno: number, edit: (buf: Buffer) => void, fixChecksum: boolean): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const buf = Buffer.alloc(pageSize);
    fs.readSync(fd, buf, 0, pageSize, pgno * pageSize);
    edit(buf);
    if (fixChecksum) buf.writeUInt32LE(pageChecksum(buf), 0);
    fs.writeSync(fd, buf, 0, pageSize, pgno * pageSize);
  } finally {
    fs.closeSync(fd);
  }
}

test('db_verify: a sound file verifies; a fault in each kind of page is reported with its page, exit 1', async () => {
  const dir = tmpDir('verify');
  try {
    const pristine = path.join(dir, 'pristine');
    await build(pristine);
    const file = (home: string) => path.join(home, 'data.db');
    const L = layoutOf(file(pristine));
    assert.ok(L.branches.length >= 1 && L.leaves.length > 10 && L.overflow.length > 10 && L.free.length > 3, JSON.stringify({ ...L, leaves: L.leaves.length }));

    const ok = await runProcess('verify', ['-h', pristine, 'data.db']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Verification of data.db succeeded.\n');
    assert.equal(ok.stderr, '');
    // db_dump -d: one line per page (r: without the free pages), damage flagged.
    const pages = await runInProcess('dump', ['-d', 'r', '-h', pristine, 'data.db']);
    assert.equal(pages.code, 0, pages.stderr);
    const listed = pages.stdout.trimEnd().split('\n');
    assert.match(listed[0]!, /^data file .*data\.db: page size 4096, \d+ pages/);
    assert.equal(listed.length - 1, L.pageCount - L.free.length);
    assert.ok(listed.every((l, i) => i === 0 || (/^page \d+: (meta|leaf|branch|overflow)/.test(l) && !l.includes('BAD'))));
    const quiet = await runInProcess('verify', ['-q', '-h', pristine, 'data.db']);
    assert.equal(quiet.code, 0);
    assert.equal(quiet.stdout, '');

    const leaf = L.leaves[Math.floor(L.leaves.length / 2)]!;
    const branch = L.branches[0]!;
    const ovf = L.overflow[Math.floor(L.overflow.length / 2)]!;
    const free = L.free[1]!;
    const ps = L.pageSize;
    const flip = (at: number) => (b: Buffer) => void (b[at] ^= 0x5a);
    const faults: Array<{ kind: string; pgno: number; edit: (b: Buffer) => void; fix: boolean; expect: RegExp }> = [
      { kind: 'meta: bit rot', pgno: 0, edit: flip(200), fix: false, expect: /page 0: meta page: page checksum mismatch/ },
      { kind: 'meta: free list head out of range', pgno: 0, edit: (b) => b.writeUInt32LE(L.pageCount + 7, MetaOffset.freeHead), fix: true, expect: /page 0: free list head \d+ is not a page of the file/ },
      { kind: 'meta: page count too small', pgno: 0, edit: (b) => b.writeUInt32LE(L.pageCount - 3, MetaOffset.pageCount), fix: true, expect: /pages \d+\.\.\d+ are outside the file's page count/ },
      { kind: 'leaf: bit rot', pgno: leaf, edit: flip(ps - 10), fix: false, expect: new RegExp(`page ${leaf}: page checksum mismatch`) },
      {
        kind: 'leaf: keys out of order',
        pgno: leaf,
        edit: (b) => {
          const s0 = b.readUInt16LE(36);
          b.writeUInt16LE(b.readUInt16LE(38), 36);
          b.writeUInt16LE(s0, 38);
        },
        fix: true,
        expect: new RegExp(`page ${leaf}: entry 1 not above entry 0`),
      },
      { kind: 'leaf: misdirected write', pgno: leaf, edit: (b) => b.writeUInt32LE(leaf + 1, PageOffset.pgno), fix: true, expect: new RegExp(`page ${leaf}: page ${leaf + 1} found at the place of page ${leaf}`) },
      { kind: 'branch: bit rot', pgno: branch, edit: flip(ps - 3), fix: false, expect: new RegExp(`page ${branch}: page checksum mismatch`) },
      {
        kind: 'branch: child pointer to a free page',
        pgno: branch,
        edit: (b) => b.writeUInt32LE(free, b.readUInt16LE(36 + 2)),
        fix: true,
        expect: new RegExp(`page ${free}: (type 0 where a leaf or branch page belongs|on the free list and in the)`),
      },
      { kind: 'overflow: bit rot', pgno: ovf, edit: flip(100), fix: false, expect: new RegExp(`page ${ovf}: page checksum mismatch`) },
      { kind: 'overflow: byte count wrong', pgno: ovf, edit: (b) => b.writeUInt32LE(b.readUInt32LE(PageOffset.prev) - 1, PageOffset.prev), fix: true, expect: /overflow chain at offset \d+: .*page \d+/ },
      { kind: 'free: bit rot', pgno: free, edit: flip(50), fix: false, expect: new RegExp(`page ${free}: page checksum mismatch`) },
      { kind: 'free: not a free page', pgno: free, edit: (b) => void (b[PageOffset.type] = PageType.Leaf), fix: true, expect: new RegExp(`page ${free}: on the free list but it is a leaf page`) },
      { kind: 'free: cycle', pgno: free, edit: (b) => b.writeUInt32LE(L.free[0]!, PageOffset.next), fix: true, expect: /free list: cycle/ },
      { kind: 'free: page dropped from the list (leak)', pgno: L.free[0]!, edit: (b) => b.writeUInt32LE(L.free[2]!, PageOffset.next), fix: true, expect: new RegExp(`page ${free}: free page neither in a tree nor on the free list \\(leaked\\)`) },
      { kind: 'page of another file', pgno: leaf, edit: (b) => b.writeUInt32LE(b.readUInt32LE(PageOffset.fileUid) + 1, PageOffset.fileUid), fix: true, expect: new RegExp(`page ${leaf}: page belongs to another file`) },
    ];
    let n = 0;
    for (const f of faults) {
      const home = path.join(dir, `case${n++}`);
      fs.cpSync(pristine, home, { recursive: true });
      editPage(file(home), ps, f.pgno, f.edit, f.fix);
      const r = await runInProcess('verify', ['-h', home, 'data.db']);
      assert.equal(r.code, 1, `${f.kind}: exit ${r.code}\n${r.stderr}`);
      assert.equal(r.stdout, 'Verification of data.db failed.\n', f.kind);
      assert.match(r.stderr, f.expect, `${f.kind}:\n${r.stderr}`);
      for (const line of r.stderr.trimEnd().split('\n')) assert.match(line, /^db_verify: data\.db: /, f.kind);
      if (f.fix === false) {
        const listing = await runInProcess('dump', ['-d', 'a', '-h', home, 'data.db']);
        assert.match(listing.stdout, new RegExp(`^page ${f.pgno}: .*: BAD: page checksum mismatch$`, 'm'), f.kind);
      }
      fs.rmSync(home, { recursive: true, force: true });
    }

    // A truncated file, a file that is not a data file, and several files at once (as a process).
    const home = path.join(dir, 'more');
    fs.cpSync(pristine, home, { recursive: true });
    fs.truncateSync(file(home), (L.pageCount - 2) * ps);
    fs.writeFileSync(path.join(home, 'junk.db'), 'this is not a database\n'.repeat(100));
    const r = await runProcess('verify', ['-h', home, 'data.db', 'junk.db', 'nosuch.db']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'Verification of data.db failed.\nVerification of junk.db failed.\nVerification of nosuch.db failed.\n');
    assert.match(r.stderr, /^db_verify: data\.db: page 0: page count \d+ exceeds the file \(\d+ pages\): truncated, or a damaged meta page$/m);
    assert.match(r.stderr, /^db_verify: junk\.db: page 0: not a cairn data file/m);
    assert.match(r.stderr, /^db_verify: nosuch\.db: No such file or directory$/m);

    // An environment that was not closed cleanly is refused: its data files may be behind the log.
    const crashed = path.join(dir, 'crashed');
    fs.cpSync(pristine, crashed, { recursive: true });
    const ctl = path.join(crashed, '__cairn.control');
    const [json] = fs.readFileSync(ctl, 'utf8').split('\n');
    const { zlib } = await import('../util/node.js');
    const open = JSON.stringify({ ...JSON.parse(json!), state: 'open' });
    fs.writeFileSync(ctl, `${open}\ncrc32 ${zlib.crc32(Buffer.from(open)).toString(16).padStart(8, '0')}\n`);
    const c = await runInProcess('verify', ['-h', crashed, 'data.db']);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /^db_verify: environment .* needs recovery \(it was not closed cleanly\).*run db_recover/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
