// Forgotten and overlong snapshots (F15, issue 21 item 5). A snapshot keeps the page versions it
// reads while commits replace them (Pager history), so one never ended grew memory without
// bound. Now: a transaction, iterator or cursor that became unreachable releases its snapshot
// once garbage collected (src/txn/forgotten.ts), a snapshot keeping more than snapshotWarn ×
// cacheSize is listed in stat(), and past snapshotLimit × cacheSize the oldest is invalidated:
// its next step throws SNAPSHOT_TOO_OLD.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Environment } from './environment.js';
import { CairnError } from '../util/errors.js';
import { SimVfs } from '../io/sim.js';
import { tmpdir } from '../testing/backupkit.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Run {
  mode: string;
  after: number;
  snapshotsBefore: number;
  snapshots: number;
  snapshotBytes: number;
  reclaimed: number;
  tooOld: number;
  heldStep: string;
}

function fixture(home: string, mode: string, commits: number, limit?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', path.join(here, '..', 'testing', 'snapshots.fixture.js'), home, mode, String(commits), ...(limit !== undefined ? [String(limit)] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`fixture ${mode} exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as Run);
    });
  });
}

test('F15: dropped iterators, cursors, read-only and write transactions are released after GC; external memory stays as without them', async () => {
  const dir = tmpdir('snapgrowth');
  const COMMITS = 1000;
  try {
    const run = (mode: string, limit?: number) => fixture(path.join(dir, mode), mode, COMMITS, limit);
    // No limit for the held snapshot: the yardstick of what one forgotten snapshot costs.
    const none = await run('none');
    const held = await run('held', 1e9);
    assert.equal(held.snapshots, 1);
    assert.ok(held.snapshotBytes > 1 << 20, `a held snapshot keeps the versions commits replace: ${held.snapshotBytes} bytes`);
    // Memory after the commits (after GC), relative to the same run without any holder.
    const cost = held.after - none.after;
    assert.ok(cost > 1 << 20, `the scenario must show what a held snapshot costs: ${held.after} against ${none.after} bytes`);
    // An iterator after one next(), a cursor after first(), env.begin({ readOnly: true }) and
    // env.begin() with one put, each made in a function and dropped.
    for (const mode of ['dropped']) {
      const r = await run(mode);
      assert.equal(r.snapshotsBefore, 0, `${mode}: the dropped holders' snapshots were released before the commits`);
      assert.equal(r.reclaimed, 4, `${mode}: each released by the registry`);
      assert.equal(r.snapshotBytes, 0, `${mode}: no page versions kept`);
      assert.ok(r.after - none.after < cost / 4, `${mode}: ${r.after} bytes after, none ${none.after}, held ${held.after}`);
    }
    // With a limit of 2 × the 1 MiB cache the held snapshot is invalidated instead.
    const limited = await run('held', 1);
    assert.equal(limited.heldStep, 'SNAPSHOT_TOO_OLD');
    assert.ok(limited.tooOld >= 1);
    assert.ok(limited.snapshotBytes <= 1 << 20, `${limited.snapshotBytes} bytes kept after the limit`);
    assert.ok(limited.after - none.after < cost / 2, `limited ${limited.after}, unlimited ${held.after}, none ${none.after}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('F15: a snapshot past snapshotWarn is reported in stat(); past snapshotLimit its holders get SNAPSHOT_TOO_OLD on their next step', async () => {
  const vfs = new SimVfs();
  const cacheSize = 256 * 1024;
  const env = await Environment.open('/env', { create: true, vfs, cacheSize, snapshotWarn: 0.5, snapshotLimit: 2, checkpoint: false, durability: 'nosync' });
  try {
    const db = await env.openDatabase('d.db', { create: true });
    // About 1.3 MB: more older versions than the limit can be kept for one snapshot.
    await env.transaction((t) => {
      for (let i = 0; i < 10000; i++) db.put(`k${String(i).padStart(4, '0')}`, 'v'.repeat(100), t);
    });
    const txn = env.begin({ readOnly: true });
    const wtxn = env.begin();
    db.put('w', 'x', wtxn);
    const it = db.range({})[Symbol.iterator]();
    assert.equal(it.next().value![0].toString(), 'k0000');
    const cur = db.cursor();
    assert.equal(cur.first()![0].toString(), 'k0000');
    let i = 0;
    let warned = false;
    const write = () => env.transaction((t) => {
      for (let j = 0; j < 5; j++) db.put(`k${String((i * 7919 + j * 2003) % 10000).padStart(4, '0')}`, `${i}`.repeat(30), t);
    });
    while (env.stat().txn.tooOld === 0 && i < 5000) {
      await write();
      i++;
      const st = env.stat().txn;
      if (st.oldSnapshots.length > 0 && !warned) {
        warned = true;
        assert.equal(st.oldSnapshots.length, 1, 'all four holders read one snapshot');
        assert.equal(st.oldSnapshots[0]!.holders, 4);
        assert.ok(st.oldSnapshots[0]!.pinnedBytes > cacheSize / 2);
        assert.ok(st.oldSnapshots[0]!.commitsBehind >= 1);
        // Still readable until the hard limit.
        assert.equal(db.get('k0000', txn)!.toString(), 'v'.repeat(100));
      }
    }
    assert.ok(warned, 'reported before invalidated');
    const st = env.stat().txn;
    assert.equal(st.tooOld, 4, 'the oldest snapshot, with its four holders, was invalidated');
    assert.ok(st.snapshotBytes <= 2 * cacheSize, `${st.snapshotBytes} bytes still kept`);
    const tooOld = (e: unknown) => e instanceof CairnError && e.code === 'SNAPSHOT_TOO_OLD' && /snapshotLimit/.test(e.message);
    assert.throws(() => db.get('k0000', txn), tooOld);
    assert.throws(() => it.next(), tooOld);
    assert.throws(() => cur.next(), tooOld);
    assert.throws(() => db.put('w2', 'x', wtxn), tooOld);
    await assert.rejects(wtxn.commit(), tooOld);
    // Ending them is fine, and releases nothing twice.
    txn.abort();
    cur.close();
    assert.equal(env.stat().txn.snapshots, 0);
    // New snapshots work.
    assert.equal([...db.range({ limit: 2 })].length, 2);
    assert.equal(db.get('w'), undefined, 'the invalidated write transaction never committed');
  } finally {
    await env.close();
  }
});
