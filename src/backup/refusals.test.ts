// No silent failover loss (I7): db_recover -c on a bad copy fails with a specific one-line
// message and exit status 1, and leaves the directory marked so that a normal open is refused
// until a recovery succeeds. One case each: logs copied before the data files, a log missing in
// the middle, a data file of another environment, a backup whose first log is later than its
// manifest's recorded start, a corrupt record before valid ones; and db_hotbackup -u refusing a
// gap without changing anything.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { RETENTION_HINT } from '../log/retention.js';
import { Writer, logsIn, ok, run, snapshot, tmpdir } from '../testing/backupkit.js';
import { logFileName } from '../log/file.js';
import { formatLsn, lsnFile } from '../util/lsn.js';

async function fill(env: Environment, from: number, count: number): Promise<void> {
  const db = await env.openDatabase('orders.db', { create: true });
  for (let n = from; n < from + count; n++) {
    await env.transaction((t) => db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(300, 0x62), t), { durability: 'nosync' });
  }
  await env.flushLog();
}

function copyFiles(names: string[], fromDir: string, toDir: string): void {
  fs.mkdirSync(toDir, { recursive: true });
  for (const n of names) fs.copyFileSync(path.join(fromDir, n), path.join(toDir, n));
}

/** db_recover -c fails with exactly one line matching `re`, exit 1, and the directory stays marked. */
async function refused(dir: string, re: RegExp): Promise<string> {
  const r = await run('db_recover', ['-c', '-h', dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, /^db_recover: /);
  assert.match(r.stderr, re);
  await assert.rejects(Environment.open(dir), (e: Error) => /db_recover -c/.test(e.message), 'a normal open is refused until a recovery succeeds');
  return r.stderr;
}

test('I7: refusals of catastrophic recovery, each with its message, exit 1 and the marker', async (t) => {
  const dir = tmpdir('i7');
  const src = path.join(dir, 'src');
  try {
    const env = await Environment.open(src, { create: true, autoRemoveLogs: false, logFileSize: 32768, checkpoint: false });
    await fill(env, 1, 150);
    await env.checkpoint();
    const early = logsIn(src);
    const earlyLogs = path.join(dir, 'early-logs');
    copyFiles(early, src, earlyLogs); // logs as they are now
    await fill(env, 151, 150);
    await env.checkpoint();
    const dataNow = path.join(dir, 'data-now');
    copyFiles(['orders.db'], src, dataNow); // data files newer than those logs
    await env.close();
    const all = logsIn(src);
    assert.ok(all.length >= 4, `several log files (${all.length})`);

    await t.test('logs copied before the data files: a page LSN past the end of the log', async () => {
      const d = path.join(dir, 'logs-first');
      copyFiles(early, earlyLogs, d);
      copyFiles(['orders.db'], dataNow, d);
      await refused(d, /orders\.db at offset \d+: data file .*orders\.db page \d+ has LSN \[\d+\]\[\d+\], past the end of the log at \[\d+\]\[\d+\]: the log files were copied before the data files \(copy data files first, then logs\)/);
    });

    await t.test('a log file missing in the middle', async () => {
      const d = path.join(dir, 'middle');
      copyFiles(['orders.db', ...all], src, d);
      fs.unlinkSync(path.join(d, all[1]!));
      await refused(d, new RegExp(`log file ${all[1]!.replace('.', '\\.')} is missing in ${d} \\(have ${all[2]!.replace('.', '\\.')} after it\\); copy it back from the primary or archive`));
    });

    await t.test('a data file of another environment', async () => {
      const other = path.join(dir, 'other');
      const e2 = await Environment.open(other, { create: true });
      const db = await e2.openDatabase('foreign.db', { create: true });
      await db.put('x', 'y');
      await e2.close();
      const d = path.join(dir, 'foreign');
      copyFiles(['orders.db', ...all], src, d);
      fs.copyFileSync(path.join(other, 'foreign.db'), path.join(d, 'foreign.db'));
      await refused(d, /foreign\.db at offset 48: data file .*foreign\.db belongs to another environment \(id [0-9a-f]{32}, this one is [0-9a-f]{32}\); remove it or copy the right one/);
    });

    await t.test('a corrupt log record before valid ones', async () => {
      const d = path.join(dir, 'corrupt');
      copyFiles(['orders.db', ...all], src, d);
      const fd = fs.openSync(path.join(d, all[0]!), 'r+');
      fs.writeSync(fd, Buffer.alloc(64, 0xee), 0, 64, 5000);
      fs.closeSync(fd);
      await refused(d, new RegExp(`${all[0]!.replace('.', '\\.')} at offset \\d+: log records end at offset \\d+ but ${all[1]!.replace('.', '\\.')} says this file was durable to \\d+`));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('I7: a manual copy without the first log files its data file needs is refused, naming them; with them it recovers every commit', async () => {
  const dir = tmpdir('i7n');
  const src = path.join(dir, 'src');
  const d = path.join(dir, 'copy');
  try {
    const env = await Environment.open(src, { create: true, autoRemoveLogs: false, logFileSize: 32768, checkpoint: false });
    await fill(env, 1, 150);
    await env.checkpoint();
    const need = env.redoPoint; // what the checkpoint recorded in orders.db's meta page (needsLog)
    const needFile = lsnFile(need);
    copyFiles(['orders.db'], src, d); // step 1 of docs/BACKUP.md: the data files
    await fill(env, 151, 150);
    const all = logsIn(src);
    const from = all.findIndex((n) => n === logFileName(needFile));
    assert.ok(from >= 0 && all.length >= from + 4, `logs ${all.join(' ')}, needed from ${formatLsn(need)}`);
    copyFiles(all.slice(from + 2), src, d); // step 3, but without the two log files the data file needs first
    const msg = (first: number, missing: string) => `db_recover: data file ${path.join(d, 'orders.db')} needs the log from ${formatLsn(need)}, but the first log file is ${logFileName(first)}: copy ${missing} from the primary or its archive, then run db_recover -c (${RETENTION_HINT})\n`;
    assert.equal(await refused(d, /needs the log from/), msg(needFile + 2, `${logFileName(needFile)} and ${logFileName(needFile + 1)}`));
    copyFiles([all[from + 1]!], src, d);
    assert.equal(await refused(d, /needs the log from/), msg(needFile + 1, logFileName(needFile)));
    copyFiles([all[from]!], src, d); // the earlier log files are not needed: the data file holds their changes
    await ok('db_recover', ['-c', '-h', d]);
    await env.close();
    const copy = await Environment.open(d);
    try {
      const db = await copy.openDatabase('orders.db');
      assert.equal([...db.range()].length, 300, 'every commit is in the recovered copy');
    } finally {
      await copy.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('I7: a backup whose first log file is later than its manifest start is refused; db_hotbackup -u refuses a gap and changes nothing', async () => {
  const dir = tmpdir('i7b');
  const src = path.join(dir, 'src');
  const writer = new Writer(src, { logFileSize: 32768, checkpointKb: 1_000_000, delayMs: 1 });
  try {
    await writer.ready;
    await writer.more(350); // no checkpoint: the redo point stays in log 1 while several fill
    const bk = path.join(dir, 'bk');
    const r = await ok('db_hotbackup', ['--no-recover', '-h', src, '-b', bk]);
    assert.match(r.stderr, /without recovery; run db_recover -c -h .*bk before opening it/);
    const logs = logsIn(bk);
    assert.ok(logs.length >= 3 && logs[0] === 'log.0000000001', logs.join(' '));
    const manifest = JSON.parse(fs.readFileSync(path.join(bk, '__cairn.backup.json'), 'utf8'));
    assert.equal(manifest.state, 'copied');
    assert.equal(manifest.startLsn, '[1][64]');
    fs.unlinkSync(path.join(bk, 'log.0000000001'));
    const bad = await run('db_recover', ['-c', '-h', bk]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      `db_recover: backup ${bk} starts at log.0000000002, later than its recorded start [1][64] (__cairn.backup.json): log files log.0000000001 are missing, so transactions in them would be lost; copy them from the source or its archive, or take a new full backup\n`,
    );
    await assert.rejects(Environment.open(bk), /db_recover -c/);

    // -u gap: a fresh full backup, then the source checkpoints and db_archive -d removes logs
    // the backup still needs before the update could take them.
    const bk2 = path.join(dir, 'bk2');
    await ok('db_hotbackup', ['-h', src, '-b', bk2]);
    await writer.more(250);
    await ok('db_checkpoint', ['-1', '-h', src]);
    await ok('db_archive', ['-d', '-h', src]);
    const before = snapshot(bk2);
    const srcLogs = logsIn(src);
    const u = await run('db_hotbackup', ['-u', '-h', src, '-b', bk2]);
    assert.equal(u.code, 1, u.stderr);
    assert.match(u.stderr, /^db_hotbackup: cannot update .*bk2: it needs every log file from log\.\d{10} \(its data files are recovered to \[\d+\]\[\d+\]\), but log\.\d{10} is neither in the backup nor in .*src \(removed from the source before this update could take it: by db_archive -d, or by its checkpoints unless its DB_CONFIG has "log_set_config DB_LOG_AUTO_REMOVE off"\); add that line if it is missing, then take a full backup \(db_hotbackup without -u\)\n$/);
    assert.deepEqual(snapshot(bk2), before, 'the backup is unchanged');
    assert.deepEqual(logsIn(src).slice(0, srcLogs.length).slice(0, 1), srcLogs.slice(0, 1), 'no log was moved out of the source');
  } finally {
    await writer.kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
