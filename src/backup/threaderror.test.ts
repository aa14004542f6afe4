// Errors across the hot backup's thread boundary (threaderror.ts): a real recovery error, packed,
// structured-cloned (as postMessage does) and unpacked, is its class again with code, file and
// offset; a recovery report survives the clone. The backup in its worker, end to end, is
// backupthread.test.ts. Real files. Runtime ~1 s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { CorruptionError } from '../util/errors.js';
import { pack, unpack } from './threaderror.js';
import { tmpdir } from '../testing/backupkit.js';

const k = (i: number) => `key${String(i).padStart(6, '0')}`;

/** A closed environment whose log spans several files, copied twice. */
async function twoCopies(dir: string): Promise<{ a: string; b: string }> {
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const env = await Environment.open(src, { create: true, autoRemoveLogs: false, logFileSize: 64 * 1024, checkpoint: false });
  const db = await env.openDatabase('a.db', { create: true });
  for (let b = 0; b < 3000; b += 300) {
    await env.transaction((t) => {
      for (let i = b; i < b + 300; i++) db.put(k(i), `v${i}`.repeat(10), t);
    });
  }
  await env.close();
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  for (const d of [a, b]) {
    fs.mkdirSync(d);
    for (const n of fs.readdirSync(src)) if (n === 'a.db' || n.startsWith('log.')) fs.copyFileSync(path.join(src, n), path.join(d, n));
  }
  return { a, b };
}

/** Runs `fn` and returns what would arrive on the other side of a thread: its result cloned, or its error packed, cloned and unpacked. */
async function acrossThread<T>(fn: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    throw unpack(structuredClone(pack(e)));
  }
  return structuredClone(result);
}

test('a recovery report and a recovery error cross a thread boundary as they were', async () => {
  const dir = tmpdir('threaderr');
  try {
    const { a, b } = await twoCopies(dir);
    const inThread = await Environment.recover(a, { catastrophic: true });
    const off = await acrossThread(() => Environment.recover(b, { catastrophic: true }));
    assert.equal(off.end, inThread.end);
    assert.equal(off.transactions, inThread.transactions);
    assert.equal(off.pagesRedone, inThread.pagesRedone);
    assert.ok(off.lastCommit instanceof Date, 'lastCommit is a Date again');
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
    await assert.rejects(acrossThread(() => Environment.recover(c, { catastrophic: true })), (e: unknown) => {
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
