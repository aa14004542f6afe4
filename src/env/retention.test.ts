// Log retention (issue 16 item 10; README §Log retention; DESIGN.md I5): under the default a busy
// writer with small log files keeps a bounded number of them; with the one documented setting
// (DB_CONFIG "log_set_config DB_LOG_AUTO_REMOVE off") every file is kept; a pin holds files a
// backup needs; env.stat() and db_stat say why each kept file is kept; and a failover copy that
// misses a log file the default removed is refused by db_recover -c with a message naming the
// setting (both shapes: the data file's needsLog, and a hole between two rounds).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from './environment.js';
import { KEEP_LOGS_LINE } from '../log/retention.js';
import { listLogFiles } from '../log/reader.js';
import { nodeVfs } from '../io/node.js';
import { ok, run, tmpdir } from '../testing/backupkit.js';

const LOG = 32 * 1024;
const CKPT_KB = 64;
/** What the default keeps at most: about two checkpoint intervals, the file written and the next, one checkpoint in flight. */
const bound = () => Math.ceil((CKPT_KB * 1024) / LOG) * 4 + 4;

let serial = 0;

async function busy(env: Environment, commits: number, onEvery?: () => Promise<void>): Promise<void> {
  const db = await env.openDatabase('d.db', { create: true });
  for (let i = 0; i < commits; i++) {
    // Every value new (a put of the value already there commits as nothing).
    const value = `${++serial}`.padEnd(300, '.');
    await env.transaction((t) => {
      for (let j = 0; j < 4; j++) db.put(`k${(i * 4 + j) % 3000}`, value, t);
    }, { durability: 'nosync' });
    if (i % 50 === 0) await onEvery?.();
  }
}

test('default retention: a busy writer with small log files keeps a bounded number of them; stat says each is kept for recovery', async () => {
  const dir = tmpdir('retain');
  try {
    const env = await Environment.open(dir, { create: true, logFileSize: LOG, checkpoint: { kbytes: CKPT_KB, minutes: 60 } });
    let most = 0;
    let measured = 0;
    // Counted between checkpoints: one still running (in the background, on a loaded machine it
    // can lag a nosync writer by any amount) has not removed its files yet.
    await busy(env, 1500, async () => {
      for (let i = 0; i < 2000 && env.stat().checkpoint.running; i++) await new Promise((r) => setTimeout(r, 5));
      if (env.stat().checkpoint.running) return;
      measured++;
      most = Math.max(most, listLogFiles(nodeVfs, dir).length);
    });
    assert.ok(measured >= 10, `only ${measured} counts between checkpoints`);
    const st = env.stat();
    // Checkpoints every CKPT_KB KiB of log: what recovery needs spans about that much, plus the
    // file being written and the prepared next one, plus one checkpoint in flight.
    assert.ok(st.log.newFiles > bound() * 3, `the writer went through ${st.log.newFiles} log files (the test must outgrow the bound ${bound()})`);
    assert.ok(most <= bound(), `at most ${most} log files at once, bound ${bound()}`);
    assert.equal(st.log.retention, 'recovery');
    assert.ok(st.log.kept.length >= 1 && st.log.kept.length <= bound());
    for (const k of st.log.kept) assert.ok(k.keptFor === 'recovery' || k.keptFor === 'removable', `${k.name}: ${k.keptFor}`);
    assert.ok(st.log.kept.some((k) => k.keptFor === 'recovery'));
    // A pin (a running backup, a channel client) holds files from its first on (I5).
    const first = st.log.kept[0]!.file;
    const unpin = env.pinLogs(first);
    await busy(env, 400);
    await env.checkpoint();
    assert.ok(env.stat().log.kept.find((k) => k.file === first + 1)?.keptFor === 'pin', 'the redo point moved past the pinned files');
    const pinned = env.stat().log.kept;
    assert.equal(pinned[0]!.file, first, 'the pinned file is still there');
    assert.equal(pinned[0]!.keptFor, 'pin');
    unpin();
    await env.checkpoint();
    assert.ok(!env.stat().log.kept.some((k) => k.keptFor === 'pin'), 'released: the next checkpoint removes them');
    assert.ok(listLogFiles(nodeVfs, dir)[0]! > first);
    await env.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(`"${KEEP_LOGS_LINE}" in DB_CONFIG keeps every log file; stat and db_stat say why each is kept`, async () => {
  const dir = tmpdir('retainall');
  try {
    fs.writeFileSync(path.join(dir, 'DB_CONFIG'), `${KEEP_LOGS_LINE}\n`);
    const env = await Environment.open(dir, { create: true, logFileSize: LOG, checkpoint: { kbytes: CKPT_KB, minutes: 60 } });
    await busy(env, 1500);
    const st = env.stat();
    assert.equal(st.log.retention, 'all');
    const files = listLogFiles(nodeVfs, dir);
    assert.ok(files.length > bound() && files[0] === 1 && files[files.length - 1] === files.length, `not one log file removed: ${files.length}`);
    // stat() lists every file on disk; the log's switch to a new file runs in another thread, so
    // the listing taken after it may hold one more.
    const kept = st.log.kept.map((k) => k.file);
    const onDisk = listLogFiles(nodeVfs, dir);
    assert.deepEqual(kept, onDisk.slice(0, kept.length));
    assert.ok(onDisk.length - kept.length <= 1, `stat listed ${kept.length} log files, the directory holds ${onDisk.length}`);
    const reasons = new Set(st.log.kept.map((k) => k.keptFor));
    assert.deepEqual([...reasons].sort(), ['recovery', 'retention']);
    await env.close();
    // db_stat -l at rest: the retention setting and one line per log file with its reason.
    const out = (await ok('db_stat', ['-l', '-h', dir])).stdout;
    assert.match(out, /^all\tLog retention/m);
    const perFile = out.split('\n').filter((l) => /^log\.\d{10}\tLog file (kept|not needed)/.test(l));
    assert.equal(perFile.length, listLogFiles(nodeVfs, dir).length);
    assert.match(out, /^log\.0000000001\tLog file kept for retention/m);
    assert.match(out, /\tLog file kept for recovery \(at or after the redo point\)$/m);
    const json = JSON.parse((await ok('db_stat', ['-l', '-h', dir, '--json'])).stdout);
    assert.equal(json.log.kept.length, perFile.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a failover copy missing a log file the default removed: db_recover -c refuses, naming the setting', async () => {
  const dir = tmpdir('retainfo');
  const primary = path.join(dir, 'primary');
  const a = path.join(dir, 'copy-a');
  const b = path.join(dir, 'copy-b');
  fs.mkdirSync(a);
  fs.mkdirSync(b);
  const copy = (files: string[], into: string) => {
    for (const f of [...files].reverse()) fs.copyFileSync(path.join(primary, f), path.join(into, f));
  };
  const logs = () => listLogFiles(nodeVfs, primary).map((n) => `log.${String(n).padStart(10, '0')}`);
  try {
    const env = await Environment.open(primary, { create: true, logFileSize: LOG, checkpoint: false });
    await busy(env, 200);
    await env.checkpoint();
    // Copy a: step 1 (data file), then the writer goes on and checkpoints (removing logs), then step 3.
    copy(['d.db'], a);
    // Copy b: steps 1 and 3 at once (recovers), then a second round after the default removed files it lacks.
    copy(['d.db'], b);
    copy(logs(), b);
    await ok('db_recover', ['-c', '-h', b]);
    const firstB = logs();
    for (let i = 0; i < 4; i++) {
      await busy(env, 150);
      await env.checkpoint();
    }
    assert.ok(listLogFiles(nodeVfs, primary)[0]! > Number(firstB[firstB.length - 1]!.slice(4)) + 1, 'the default removed files neither copy has');
    copy(logs(), a);
    copy(logs(), b);
    const ra = await run('db_recover', ['-c', '-h', a]);
    assert.equal(ra.code, 1);
    assert.match(ra.stderr, /needs the log from .*copy log\.\d{10} .*from the primary/);
    assert.ok(ra.stderr.includes(`"${KEEP_LOGS_LINE}"`), ra.stderr);
    const rb = await run('db_recover', ['-c', '-h', b]);
    assert.equal(rb.code, 1);
    assert.match(rb.stderr, /log file log\.\d{10} is missing in /);
    assert.ok(rb.stderr.includes(`"${KEEP_LOGS_LINE}"`), rb.stderr);
    assert.equal(rb.stderr.trim().split('\n').length, 1, 'one line');
    await env.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
