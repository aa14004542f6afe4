// The hot backup's recovery thread (W6): the same result as recovery in the main thread, typed
// errors arrive as their class with code, file and offset, and a thread never asked ends.
// Real files (a worker thread cannot see a simulated file system). Runtime ~2 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { CorruptionError } from '../util/errors.js';
import { RecoveryThread } from './recoverthread.js';
import { tmpdir } from './testkit.js';

const k = (i: number) => `key${String(i).padStart(6, '0')}`;

/** A closed environment whose log spans several files, copied twice. */
async function twoCopies(dir: string): Promise<{ a: string; b: string; envId: Buffer }> {
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const env = await Environment.open(src, { create: true, logFileSize: 64 * 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let b = 0; b < 3000; b += 300) {
    await env.transaction((t) => {
      for (let i = b; i < b + 300; i++) db.put(k(i), `v${i}`.repeat(10), t);
    });
  }
  const envId = Buffer.from(env.envId);
  await env.close();
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  for (const d of [a, b]) {
    fs.mkdirSync(d);
    for (const n of fs.readdirSync(src)) if (n === 'a.db' || n.startsWith('log.')) fs.copyFileSync(path.join(src, n), path.join(d, n));
  }
  return { a, b, envId };
}

test('the recovery thread recovers a copy as recovery in the main thread does; corruption comes back typed', async () => {
  const dir = tmpdir('recthread');
  try {
    const { a, b, envId } = await twoCopies(dir);
    const inThread = await Environment.recover(a, { catastrophic: true });
    const off = await new RecoveryThread().run(b, b, envId);
    assert.equal(off.recovery.end, inThread.end);
    assert.equal(off.recovery.transactions, inThread.transactions);
    assert.equal(off.recovery.pagesRedone, inThread.pagesRedone);
    assert.ok(off.recovery.lastCommit instanceof Date, 'lastCommit is a Date again');
    assert.ok(fs.readFileSync(path.join(a, 'a.db')).equals(fs.readFileSync(path.join(b, 'a.db'))), 'the same data file');
    const env = await Environment.open(b, {});
    assert.equal((await env.openDatabase('a.db')).count(), 3000);
    await env.close();

    // A damaged record before valid ones in the first log file: corruption, not a torn tail (I6).
    const c = path.join(dir, 'c');
    fs.mkdirSync(c);
    const logs = fs.readdirSync(a).filter((n) => n.startsWith('log.')).sort();
    assert.ok(logs.length >= 2, logs.join(' '));
    for (const n of fs.readdirSync(dir + '/src')) if (n === 'a.db' || n.startsWith('log.')) fs.copyFileSync(path.join(dir, 'src', n), path.join(c, n));
    const fd = fs.openSync(path.join(c, logs[0]!), 'r+');
    fs.writeSync(fd, Buffer.alloc(64, 0xee), 0, 64, 5000);
    fs.closeSync(fd);
    await assert.rejects(new RecoveryThread().run(c, c, envId), (e: unknown) => {
      assert.ok(e instanceof CorruptionError, `not a CorruptionError: ${String(e)}`);
      assert.equal(e.code, 'CORRUPT');
      assert.equal(e.file, path.join(c, logs[0]!));
      assert.ok(e.offset <= 5000, `offset ${e.offset}`);
      assert.match(e.message, /log records end at offset \d+ but log\.\d+ says this file was durable to/);
      return true;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a recovery thread never asked (the backup failed before its recovery) ends when stopped', async () => {
  const t = new RecoveryThread();
  await t.stop();
});
