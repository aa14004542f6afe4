// The hot failover procedure of DESIGN.md §1, end to end, with the real bins as an operator types
// them, while a writer process commits 'sync' transactions; then kill -9, the final log copy,
// db_recover -c, and a check that every acknowledged transaction is in the copy (I2, I4, I5, I7).
// The same with db_hotbackup -b and -u rounds, and with fuzzy copies made with odd read sizes.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writer, committed, copyWithReads, logsIn, ok, tmpdir } from '../testing/backupkit.js';

const ROUNDS = 5;

/** Copies the active logs newest first (a file is complete once the next exists: docs/BACKUP.md). */
function copyActive(files: string[], into: string): void {
  for (const f of [...files].reverse()) fs.copyFileSync(f, path.join(into, path.basename(f)));
}

/** Moves files into a directory (rename when possible, as `mv` does). */
function move(files: string[], into: string): void {
  for (const f of files) {
    const to = path.join(into, path.basename(f));
    try {
      fs.renameSync(f, to);
    } catch {
      fs.copyFileSync(f, to);
      fs.unlinkSync(f);
    }
  }
}

/**
 * The one setting the procedure needs (docs/BACKUP.md): the primary keeps every log file until
 * step 2 moves it, instead of its checkpoints removing those recovery no longer needs (the default).
 */
function keepLogs(home: string): void {
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'DB_CONFIG'), 'log_set_config DB_LOG_AUTO_REMOVE off\n');
}

test('the five-step procedure with db_archive and db_recover -c while a writer commits; kill -9; nothing acknowledged is lost', async () => {
  const dir = tmpdir('failover');
  const primary = path.join(dir, 'primary');
  const failover = path.join(dir, 'failover');
  fs.mkdirSync(failover);
  keepLogs(primary);
  const writer = new Writer(primary, { logFileSize: 32768, checkpointKb: 16, delayMs: 2 });
  try {
    await writer.ready;
    await writer.more(100);
    // Step 1: the database files, copied with cp while the writer commits.
    const data = (await ok('db_archive', ['-s', '-a', '-h', primary])).stdout.trim().split('\n');
    assert.deepEqual(data, [path.join(primary, 'orders.db')]);
    for (const f of data) fs.copyFileSync(f, path.join(failover, path.basename(f)));
    let moved = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      await writer.more(80);
      // Step 2: move the inactive logs.
      const inactive = (await ok('db_archive', ['-a', '-h', primary])).stdout.split('\n').filter(Boolean);
      move(inactive, failover);
      moved += inactive.length;
      // Step 3: copy the active ones. Everything acknowledged before this step must survive.
      const ackedBefore = writer.acked;
      const all = (await ok('db_archive', ['-l', '-a', '-h', primary])).stdout.split('\n').filter(Boolean);
      assert.ok(all.length >= 1);
      copyActive(all, failover);
      // Step 4: catastrophic recovery on the copy.
      await ok('db_recover', ['-c', '-h', failover]);
      const got = await committed(failover);
      assert.equal(got.prefix, got.max, `round ${round}: the copy holds a gap-free prefix of the commits`);
      assert.ok(got.max >= ackedBefore, `round ${round}: ${got.max} recovered, ${ackedBefore} acknowledged before step 3`);
    }
    assert.ok(moved > 0, 'inactive logs were moved in some round');
    const acked = await writer.kill9();
    // Fail over: take the primary's remaining logs (its disk survived), recover, open.
    copyActive(logsIn(primary).map((n) => path.join(primary, n)), failover);
    await ok('db_recover', ['-c', '-h', failover]);
    const got = await committed(failover);
    assert.equal(got.prefix, got.max);
    assert.ok(got.max >= acked, `every acknowledged commit is there: ${got.max} recovered, ${acked} acknowledged`);
    assert.ok(got.max <= acked + 1, 'at most the one commit in flight when killed beyond the acknowledged');
  } finally {
    if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('db_hotbackup -b, then -u rounds while the writer commits; kill -9; a final -u loses nothing', async () => {
  const dir = tmpdir('hotfail');
  const primary = path.join(dir, 'primary');
  const backup = path.join(dir, 'backup');
  keepLogs(primary);
  const writer = new Writer(primary, { logFileSize: 32768, checkpointKb: 16, delayMs: 2 });
  try {
    await writer.ready;
    await writer.more(100);
    let ackedBefore = writer.acked;
    await ok('db_hotbackup', ['-h', primary, '-b', backup]);
    let got = await committed(backup);
    assert.equal(got.prefix, got.max);
    assert.ok(got.max >= ackedBefore);
    const manifest = JSON.parse(fs.readFileSync(path.join(backup, '__cairn.backup.json'), 'utf8'));
    assert.equal(manifest.state, 'recovered');
    assert.equal(manifest.kind, 'full');
    let movedTotal = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      await writer.more(80);
      ackedBefore = writer.acked;
      const r = await ok('db_hotbackup', ['-u', '-v', '-h', primary, '-b', backup]);
      movedTotal += (r.stdout.match(/: moving /g) ?? []).length;
      assert.match(r.stdout, /through its coordination channel/);
      got = await committed(backup);
      assert.equal(got.prefix, got.max, `round ${round}: gap-free`);
      assert.ok(got.max >= ackedBefore, `round ${round}: ${got.max} recovered, ${ackedBefore} acknowledged before the update`);
    }
    assert.ok(movedTotal > 0, 'inactive logs were moved out of the primary');
    const acked = await writer.kill9();
    // No live owner now: db_hotbackup opens the primary itself (recovering it) and updates.
    await ok('db_hotbackup', ['-u', '-h', primary, '-b', backup]);
    got = await committed(backup);
    assert.equal(got.prefix, got.max);
    assert.ok(got.max >= acked && got.max <= acked + 1, `${got.max} recovered, ${acked} acknowledged`);
  } finally {
    if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzzy copies: data files read 1,000 and 10,000 bytes at a time while the writer runs still recover to an exact prefix (I4)', async () => {
  const dir = tmpdir('fuzzy');
  const primary = path.join(dir, 'primary');
  keepLogs(primary);
  const writer = new Writer(primary, { logFileSize: 32768, checkpointKb: 16, delayMs: 2 });
  try {
    await writer.ready;
    await writer.more(150);
    for (const readSize of [1000, 10000]) {
      const copy = path.join(dir, `copy-${readSize}`);
      fs.mkdirSync(copy);
      const data = (await ok('db_archive', ['-s', '-a', '-h', primary])).stdout.trim().split('\n');
      for (const f of data) copyWithReads(f, path.join(copy, path.basename(f)), readSize);
      await writer.more(150);
      const ackedBefore = writer.acked;
      const all = (await ok('db_archive', ['-l', '-a', '-h', primary])).stdout.split('\n').filter(Boolean);
      copyActive(all, copy);
      await ok('db_recover', ['-c', '-h', copy]);
      const got = await committed(copy);
      assert.equal(got.prefix, got.max, `read size ${readSize}: an exact prefix`);
      assert.equal(got.count, got.max);
      assert.ok(got.max >= ackedBefore, `read size ${readSize}: ${got.max} recovered, ${ackedBefore} acknowledged`);
    }
  } finally {
    if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
