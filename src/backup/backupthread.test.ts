// The hot backup in a worker thread (W6, backupthread.ts) against the same backup run in this
// thread: the same files, bytes and manifest; log files copied with their zero tail left sparse
// read back byte for byte as the source's; typed errors come back as their class with file and
// offset; a backup that fails after pinning leaves no pin behind (I5); a kept worker serves the
// next backup. Real files (a worker thread cannot see a simulated file system). Runtime ~5 s.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { runHotBackupInThread } from './backupthread.js';
import { environmentSource, runHotBackup } from './hotbackup.js';
import type { Manifest } from './manifest.js';
import type { Progress } from '../util/progress.js';
import { committed, tmpdir } from '../testing/backupkit.js';

const sha = (p: string) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
const manifestOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, '__cairn.backup.json'), 'utf8')) as Manifest;

/** An environment with `count` entries, checkpointed after the first `checkpointAt`: the log from the redo point spans several files. */
async function filled(home: string, count: number, checkpointAt: number): Promise<Environment> {
  const env = await Environment.open(home, { create: true, autoRemoveLogs: false, logFileSize: 32768, checkpoint: false });
  const db = await env.openDatabase('orders.db', { create: true });
  for (let b = 1; b <= count; b += 100) {
    if (b > checkpointAt && b - 100 <= checkpointAt) await env.checkpoint();
    await env.transaction((t) => {
      for (let n = b; n < b + 100 && n <= count; n++) db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(150, n & 0xff), t);
    });
  }
  return env;
}

test('a backup in the worker thread copies what one in this thread copies; sparse log tails read back as the source', async () => {
  const dir = tmpdir('bthread');
  const env = await filled(path.join(dir, 'env'), 1500, 1000);
  try {
    const inThread = path.join(dir, 'a');
    const offThread = path.join(dir, 'b');
    const said: Progress[] = [];
    const a = await runHotBackup(environmentSource(env), inThread, { keepLogs: true });
    const b = await runHotBackupInThread(environmentSource(env), offThread, { keepLogs: true, progress: (p) => said.push(p) });
    // Progress comes back from the thread as numbers: bytes done of the total, phase by phase,
    // never decreasing within a phase, each phase ending with all of its bytes done.
    const phases = [...new Set(said.map((p) => p.phase))];
    assert.deepEqual(phases, ['data', 'logs', 'recovery'], JSON.stringify(said.slice(0, 5)));
    for (const phase of phases) {
      const of = said.filter((p) => p.phase === phase);
      for (let i = 1; i < of.length; i++) assert.ok(of[i]!.done >= of[i - 1]!.done, `${phase}: done went back: ${of[i - 1]!.done} then ${of[i]!.done}`);
      assert.ok(of.every((p) => p.unit === 'bytes' && p.total !== undefined && p.done <= p.total), phase);
      assert.equal(of.at(-1)!.done, of.at(-1)!.total, `${phase} ends done`);
    }
    assert.equal(said.filter((p) => p.phase === 'data').at(-1)!.done, manifestOf(offThread).files.filter((f) => f.kind === 'data').reduce((s, f) => s + f.size, 0), 'data: the bytes of the data files copied');
    for (const k of ['dataFiles', 'logsCopied', 'startLsn', 'endLsn', 'bytes', 'requiredLsn'] as const) assert.deepEqual(b[k], a[k], k);
    assert.equal(b.recovery?.transactions, a.recovery?.transactions);
    assert.ok(b.recovery?.lastCommit instanceof Date, 'lastCommit is a Date again');
    const ma = manifestOf(inThread);
    const mb = manifestOf(offThread);
    assert.deepEqual(
      mb.files.map((f) => [f.path, f.size, f.sha256]),
      ma.files.map((f) => [f.path, f.size, f.sha256]),
    );
    // No writer ran: every copied log is the source's, byte for byte, zero tail included
    // (written sparse), and its manifest hash is the file's.
    const logs = mb.files.filter((f) => f.kind === 'log');
    assert.ok(logs.length >= 2, `${logs.length} log files`);
    for (const f of logs) {
      const copy = path.join(offThread, f.path);
      assert.equal(fs.statSync(copy).size, f.size);
      assert.ok(fs.readFileSync(copy).equals(fs.readFileSync(path.join(dir, 'env', f.path))), `${f.path} differs from the source`);
      assert.equal(sha(copy), f.sha256, `${f.path}: manifest hash`);
    }
    assert.deepEqual(await committed(offThread), await committed(inThread));
    assert.equal((await committed(offThread)).count, 1500);

    // The kept worker takes the next backup.
    const again = await runHotBackupInThread(environmentSource(env), path.join(dir, 'c'), {});
    assert.equal(again.endLsn, b.endLsn);
  } finally {
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors from the thread arrive typed; a backup that fails after pinning leaves no pin (I5)', async () => {
  const dir = tmpdir('bthreaderr');
  const home = path.join(dir, 'env');
  const env = await filled(home, 800, 800);
  try {
    await env.checkpoint();
    const removable = env.removableLogs();
    assert.ok(removable.length > 0, 'the test needs removable logs');

    // Refused before anything is copied: a CairnError with its code.
    const foreign = path.join(dir, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
    await assert.rejects(runHotBackupInThread(environmentSource(env), foreign, {}), (e: unknown) => {
      assert.ok(e instanceof CairnError, String(e));
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, /is not empty and holds no backup of this environment/);
      return true;
    });

    // A damaged page in the source fails the copy after the pin: corruption with file and
    // offset, and the pin is gone (the logs are removable again).
    const file = path.join(home, 'orders.db');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(16, 0xee), 0, 16, 2 * 4096 + 200);
    fs.closeSync(fd);
    await assert.rejects(runHotBackupInThread(environmentSource(env), path.join(dir, 'bk'), {}), (e: unknown) => {
      assert.ok(e instanceof CorruptionError, String(e));
      assert.equal(e.file, file);
      assert.equal(e.offset, 2 * 4096);
      assert.match(e.message, /page 2: page checksum mismatch, on 40 reads in a row/);
      return true;
    });
    assert.deepEqual(env.removableLogs(), removable, 'no pin left behind');
  } finally {
    await env.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the zero tail of a preallocated log file is not written: the copy holds it as a hole and reads back as the source', async () => {
  const dir = tmpdir('bthreadsparse');
  const home = path.join(dir, 'env');
  const env = await Environment.open(home, { create: true, autoRemoveLogs: false, checkpoint: false }); // 10 MiB log files
  try {
    const db = await env.openDatabase('orders.db', { create: true });
    await env.transaction((t) => {
      for (let n = 1; n <= 300; n++) db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(150, 3), t);
    });
    const bk = path.join(dir, 'bk');
    await runHotBackupInThread(environmentSource(env), bk, { keepLogs: true });
    const log = manifestOf(bk).files.find((f) => f.kind === 'log')!;
    const copy = path.join(bk, log.path);
    const st = fs.statSync(copy);
    assert.equal(st.size, 10 * 1024 * 1024);
    assert.ok(st.blocks * 512 < 2 * 1024 * 1024, `${st.blocks * 512} bytes allocated: the zero tail was written`);
    assert.ok(fs.readFileSync(copy).equals(fs.readFileSync(path.join(home, log.path))), 'the copy reads as the source');
    assert.equal(sha(copy), log.sha256);
    assert.equal((await committed(bk)).count, 300);
  } finally {
    await env.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
