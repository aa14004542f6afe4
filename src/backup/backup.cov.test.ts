// The backup modules' rarely taken paths (issue 4 item 9), in process on the simulated file
// system: every refusal of a backup target (with its message, and the target left as it was),
// damaged or foreign source files (log headers, pages, a gap or a missing redo-point log),
// files that are not ours or vanish during the copy, a cross-device log move, the manifest's
// and the backup lock's damaged or stale states, db_archive from disk refusing an unrecovered
// copy, and the layout helpers. Each asserts the typed error and message, or what was copied.
// Deterministic; ~3 s (two cases wait out the 40 re-reads of a damaged page or log header).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { SimVfs } from '../io/sim.js';
import type { FileHandle, OpenOptions, Vfs } from '../io/vfs.js';
import { Environment } from '../env/environment.js';
import { readControl, writeControl } from '../env/control.js';
import { encodeLogHeader, logFileName } from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { formatLsn } from '../util/lsn.js';
import { CairnError, CorruptionError, IoError, RunRecoveryError } from '../util/errors.js';
import { archiveFromDisk } from './archive.js';
import { checkBackupTarget, environmentSource, runHotBackup, type BackupSource } from './hotbackup.js';
import { displayPath, listDataFiles, readEnvId, readLayout } from './layout.js';
import {
  BACKUP_LOCK_FILE,
  MANIFEST_FILE,
  acquireBackupLock,
  afterLastCommit,
  backupLockHolder,
  checkBackupLogs,
  readManifest,
  recordRecovery,
  writeManifest,
} from './manifest.js';

const HOME = '/env';
const PAGE = 1024;
const TARGET = '/backup';

function fresh(options: ConstructorParameters<typeof SimVfs>[0] = {}): SimVfs {
  const vfs = new SimVfs(options);
  vfs.mkdir(HOME, { recursive: true });
  vfs.syncDir('/');
  return vfs;
}

async function openEnv(vfs: Vfs, extra: Partial<Parameters<typeof Environment.open>[1]> = {}, home = HOME): Promise<Environment> {
  return Environment.open(home, { create: true, autoRemoveLogs: false, vfs, logFileSize: 32 * 1024, checkpoint: false, pageSize: PAGE, ...extra });
}

async function fill(env: Environment, file: string, from: number, n: number, valueSize = 200): Promise<void> {
  const db = await env.openDatabase(file, { create: true });
  await env.transaction((t) => {
    for (let i = from; i < from + n; i++) db.put(`k${String(i).padStart(5, '0')}`, `v${i}`.padEnd(valueSize, '.'), t);
  });
}

/** Keys in a database of a closed environment at `home`. */
async function count(vfs: Vfs, home: string, file: string): Promise<number> {
  const env = await Environment.open(home, { vfs, readOnly: true });
  try {
    return [...(await env.openDatabase(file)).range()].length;
  } finally {
    await env.close();
  }
}

/** Every file under `dir` with its bytes (to prove a refusal changed nothing). */
function tree(vfs: SimVfs, dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, b] of vfs.snapshotFiles()) if (p === dir || p.startsWith(`${dir}/`)) out.set(p, b.toString('base64'));
  return out;
}

function backup(env: Environment, vfs: Vfs, opts: Parameters<typeof runHotBackup>[2] = {}, dir = TARGET) {
  return runHotBackup(environmentSource(env), dir, { vfs, ...opts });
}

const code = (c: string, re: RegExp) => (e: unknown) => e instanceof CairnError && e.code === c && re.test(e.message);
const corrupt = (file: string, offset: number, re: RegExp) => (e: unknown) => e instanceof CorruptionError && e.file === file && e.offset === offset && re.test(e.message);

/** A Vfs that passes everything to `inner` except what `hooks` override. */
function hooked(inner: SimVfs, hooks: Partial<Vfs>): Vfs {
  const base: Vfs = {
    open: (p: string, o?: OpenOptions): FileHandle => inner.open(p, o),
    stat: (p) => inner.stat(p),
    readdir: (d) => inner.readdir(d),
    mkdir: (d, o) => inner.mkdir(d, o),
    rename: (a, b) => inner.rename(a, b),
    unlink: (p) => inner.unlink(p),
    rmdir: (d) => inner.rmdir(d),
    syncDir: (d) => inner.syncDir(d),
    readFile: (p) => inner.readFile(p),
    writeFile: (p, d) => inner.writeFile(p, d),
  };
  return { ...base, ...hooks };
}

test('backup target refusals: each with its message; a target that cannot be made or locked is left as it was', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs);
  await fill(env, 'a.db', 0, 20);
  const src = env.dirs;
  const check = (dir: string, opts: { update?: boolean; layout?: 'flat' | 'config' }) => checkBackupTarget(vfs, src, env.envId, dir, opts);

  assert.throws(() => check(TARGET, { update: true }), code('INVALID_ARGUMENT', /holds no backup of this environment to update \(it does not exist\)/));
  assert.equal(check(TARGET, {}), undefined, 'a new directory is fine, and made by the backup');

  // A directory with an environment open in it (a failover copy in use).
  const other = await openEnv(vfs, {}, '/busy');
  assert.throws(() => check('/busy', {}), code('LOCKED', /open as an environment by process \d+ .*refusing to overwrite it/));
  await other.close();
  // Not empty: another environment (by its control file), then an unreadable control file, then another backup.
  assert.throws(() => check('/busy', {}), code('INVALID_ARGUMENT', /is not empty and holds an environment with another id \([0-9a-f]{32}\)/));
  vfs.writeFile('/busy/__cairn.control', Buffer.from('garbage'));
  assert.throws(() => check('/busy', {}), code('INVALID_ARGUMENT', /is not empty and holds no backup of this environment/));
  vfs.mkdir('/foreign');
  writeManifest(vfs, '/foreign', { format: 'cairn-backup/1', envId: 'ab'.repeat(16) } as never);
  assert.throws(() => check('/foreign', {}), code('INVALID_ARGUMENT', /holds a backup of another environment \(abab/));
  assert.throws(() => check('/foreign', { update: true }), code('INVALID_ARGUMENT', /its manifest is for environment abab.*run db_hotbackup without -u first/));
  assert.throws(() => check('/busy', { update: true }), code('INVALID_ARGUMENT', new RegExp(`no ${MANIFEST_FILE.replace(/\./g, '\\.')}`)));

  // -u against a backup taken the other way (-D or not), one never finished, one opened since.
  await backup(env, vfs);
  assert.throws(() => check(TARGET, { update: true, layout: 'config' }), code('INVALID_ARGUMENT', /was taken without -D; update it the same way/));
  const m = readManifest(vfs, TARGET)!;
  writeManifest(vfs, TARGET, { ...m, state: 'copying' });
  assert.throws(() => check(TARGET, { update: true }), code('INVALID_ARGUMENT', /never finished copying/));
  writeManifest(vfs, TARGET, m);
  const ctl = readControl(vfs, TARGET)!;
  writeControl(vfs, TARGET, { ...ctl, state: 'open' });
  assert.throws(() => check(TARGET, { update: true }), code('INVALID_ARGUMENT', /was opened as an environment since its last backup .*state open/));
  vfs.writeFile(path.join(TARGET, '__cairn.control'), Buffer.from('garbage'));
  assert.equal(check(TARGET, { update: true })?.envId, env.envId.toString('hex'), 'an unreadable control file is not a history of its own');

  await backup(env, vfs, { layout: 'config' }, '/withD');
  assert.throws(() => check('/withD', { update: true }), code('INVALID_ARGUMENT', /the backup in \/withD was taken with -D; update it the same way/));

  // -D with a directory outside the home or absolute.
  vfs.writeFile(path.join(HOME, 'DB_CONFIG'), Buffer.from('set_lg_dir ../elsewhere\n'));
  assert.throws(() => check('/b2', { layout: 'config' }), code('CONFIG', /-D: DB_CONFIG of \/env names the directory \.\.\/elsewhere, outside the home/));
  vfs.writeFile(path.join(HOME, 'DB_CONFIG'), Buffer.from('add_data_dir /abs\n'));
  assert.throws(() => check('/b2', { layout: 'config' }), code('CONFIG', /names the directory \/abs, an absolute path/));
  vfs.unlink(path.join(HOME, 'DB_CONFIG'));

  // The target cannot be made, or cannot be locked.
  vfs.writeFile('/afile', Buffer.from('x'));
  const before = tree(vfs, '/afile');
  await assert.rejects(backup(env, vfs, {}, '/afile/sub'), code('IO', /cannot create the backup directory \/afile\/sub/));
  assert.deepEqual(tree(vfs, '/afile'), before);
  vfs.inject({ op: 'open', pathIncludes: BACKUP_LOCK_FILE, errno: 'EROFS' });
  await assert.rejects(backup(env, vfs, {}, '/ro'), code('IO', /cannot write in the backup directory \/ro \(EROFS\)/));
  vfs.clearFaults();
  await env.close();
});

test('source log damage: a header damaged, of another file number, of another environment; a missing redo log; a gap', async () => {
  const cases: Array<[string, (vfs: SimVfs, env: Environment, logs: number[]) => void, (e: unknown) => boolean]> = [
    ['another file number', (vfs, env, logs) => overwriteHeader(vfs, logs.at(-2)!, encodeLogHeader({ fileNo: logs.at(-1)!, fileSize: 32 * 1024, envId: env.envId, prevEnd: 64 })), (e) => e instanceof CorruptionError && e.offset === 12 && /log header says file/.test(e.message)],
    ['another environment', (vfs, _env, logs) => overwriteHeader(vfs, logs.at(-2)!, encodeLogHeader({ fileNo: logs.at(-2)!, fileSize: 32 * 1024, envId: Buffer.alloc(16, 1), prevEnd: 64 })), (e) => e instanceof CorruptionError && e.offset === 20 && /belongs to another environment/.test(e.message)],
    ['a damaged header', (vfs, _env, logs) => overwriteHeader(vfs, logs.at(-2)!, Buffer.alloc(64)), (e) => e instanceof CorruptionError && e.offset === 0 && /log file header is damaged; the source log is corrupt/.test(e.message)],
    ['a gap', (vfs, _env, logs) => vfs.unlink(path.join(HOME, logFileName(logs.at(-2)!))), code('CORRUPT', /log file log\.\d+ is missing in \/env \(have log\.\d+ after it\); the source has a gap/)],
    ['the redo point\'s log', (vfs, _env, logs) => vfs.unlink(path.join(HOME, logFileName(logs[0]!))), code('NOT_FOUND', /needed from the redo point \[\d+\]\[\d+\], is missing in \/env/)],
  ];
  function overwriteHeader(vfs: SimVfs, n: number, header: Buffer): void {
    const h = vfs.open(path.join(HOME, logFileName(n)));
    h.write(header, 0);
    h.close();
  }
  for (const [what, damage, expected] of cases) {
    const vfs = fresh();
    const env = await openEnv(vfs);
    await fill(env, 'a.db', 0, 10);
    await env.checkpoint();
    for (let i = 0; i < 30; i++) await fill(env, 'a.db', 100 + i * 20, 20);
    const logs = listLogFiles(vfs, HOME);
    assert.ok(logs.length >= 3, `${what}: ${logs.length} log files`);
    damage(vfs, env, logs);
    await assert.rejects(backup(env, vfs), expected, what);
    assert.equal(vfs.stat(path.join(TARGET, BACKUP_LOCK_FILE)), undefined, `${what}: the backup lock is released`);
    assert.equal(readManifest(vfs, TARGET)?.state ?? 'copying', 'copying', `${what}: the target is not marked complete`);
    await env.close().catch(() => {});
  }
});

test('source data files: zero pages and a cut-short page copied as far as they are sound, foreign and other files skipped, a damaged page refused', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs);
  await fill(env, 'a.db', 0, 30);
  await env.checkpoint();
  const other = await openEnv(vfs, {}, '/other');
  await fill(other, 'f.db', 0, 3);
  await other.close();
  vfs.writeFile(path.join(HOME, 'f.db'), vfs.readFile('/other/f.db'));
  vfs.writeFile(path.join(HOME, 'notes.txt'), Buffer.from('not a database'));
  vfs.mkdir(path.join(HOME, 'subdir'));
  // a.db gains a zero page (allocated, never written) and then half a page (being appended).
  const a = path.join(HOME, 'a.db');
  const size = vfs.stat(a)!.size;
  const h = vfs.open(a);
  h.write(Buffer.alloc(PAGE + PAGE / 2), size);
  h.close();
  const said: string[] = [];
  const r = await backup(env, vfs, { log: (m) => said.push(m) });
  assert.deepEqual(r.dataFiles, ['a.db']);
  assert.ok(said.some((m) => m === `skipping ${path.join(HOME, 'f.db')}: a data file of another environment`), said.join('\n'));
  assert.ok(said.some((m) => m === `skipping ${path.join(HOME, 'notes.txt')}: not a cairn data file`));
  assert.equal(vfs.stat(path.join(TARGET, 'a.db'))!.size, size + PAGE, 'the zero page is copied, the half page is not');
  assert.equal(await count(vfs, TARGET, 'a.db'), 30);

  // A page that stays damaged over every re-read is the source's damage: refused with file and offset.
  const g = vfs.open(a);
  g.write(Buffer.alloc(8, 0xee), 2 * PAGE + 300);
  g.close();
  await assert.rejects(backup(env, vfs), (e: unknown) => e instanceof CorruptionError && e.file === a && e.offset === 2 * PAGE && /on 40 reads in a row/.test(e.message));
  await env.close().catch(() => {});
});

test('a data file that disappears during the copy is skipped (recovery replays its removal); an I/O error is not', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs);
  await fill(env, 'a.db', 0, 10);
  await fill(env, 'b.db', 0, 10);
  await env.checkpoint();
  let opens = 0;
  const gone = hooked(vfs, {
    open: (p, o) => {
      if (p.endsWith('/b.db') && o?.readOnly && ++opens === 2) {
        vfs.unlink(p); // removed between the listing and the copy
      }
      return vfs.open(p, o);
    },
  });
  const said: string[] = [];
  const r = await backup(env, gone, { log: (m) => said.push(m) });
  assert.deepEqual(r.dataFiles, ['a.db']);
  assert.ok(said.includes(`${path.join(HOME, 'b.db')} was removed or renamed while the backup ran; recovery replays that from the log`), said.join('\n'));
  await env.close().catch(() => {});

  const vfs2 = fresh();
  const env2 = await openEnv(vfs2);
  await fill(env2, 'a.db', 0, 10);
  vfs2.inject({ op: 'open', pathIncludes: 'a.db', nth: 2, errno: 'EIO' });
  await assert.rejects(backup(env2, vfs2), (e: unknown) => e instanceof IoError && e.errno === 'EIO');
  vfs2.clearFaults();
  assert.equal(vfs2.stat(path.join(TARGET, BACKUP_LOCK_FILE)), undefined);
  await env2.close();
});

test('db_hotbackup -u: large logs moved across devices, a backup newer than its source, a source without logs', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs, { logFileSize: 1024 * 1024 });
  await fill(env, 'a.db', 0, 10);
  await backup(env, vfs);
  for (let i = 0; i < 30; i++) await fill(env, 'a.db', 100 + i * 20, 20, 2000);
  await env.checkpoint();
  assert.ok(env.removableLogs().length >= 1, 'an inactive log to move');
  let exdev = 0;
  const xdev = hooked(vfs, {
    rename: (a, b) => {
      if (a.startsWith(`${HOME}/log.`) && b.startsWith(`${TARGET}/`)) {
        exdev++;
        throw new IoError('rename', a, 'EXDEV');
      }
      vfs.rename(a, b);
    },
  });
  const r = await backup(env, xdev, { update: true });
  assert.ok(exdev >= 1 && r.logsMoved.length === exdev, `moved ${r.logsMoved.length}, EXDEV ${exdev}`);
  for (const moved of r.logsMoved) assert.equal(vfs.stat(path.join(HOME, moved)), undefined, `${moved} left the source`);
  assert.equal(await count(vfs, TARGET, 'a.db'), 10 + 30 * 20);
  // On one device the inactive logs are renamed into the backup and hashed there.
  for (let i = 0; i < 30; i++) await fill(env, 'a.db', 10_000 + i * 20, 20, 2000);
  await env.checkpoint();
  const plain = await backup(env, vfs, { update: true, keepLogs: true });
  assert.ok(plain.logsMoved.length >= 1);
  const moved = readManifest(vfs, TARGET)!.history.at(-1)!;
  assert.equal(moved.logsMoved, plain.logsMoved.length);
  assert.equal(await count(vfs, TARGET, 'a.db'), 10 + 60 * 20);
  // A rename failing otherwise is an error, not a copy.
  for (let i = 0; i < 30; i++) await fill(env, 'a.db', 20_000 + i * 20, 20, 2000);
  await env.checkpoint();
  const failing = hooked(vfs, {
    rename: (a, b) => {
      if (a.startsWith(`${HOME}/log.`)) throw new IoError('rename', a, 'EIO');
      vfs.rename(a, b);
    },
  });
  await assert.rejects(backup(env, failing, { update: true }), (e: unknown) => e instanceof IoError && e.errno === 'EIO');

  // The backup holds a log newer than the source's newest.
  const newest = listLogFiles(vfs, HOME).at(-1)!;
  vfs.writeFile(path.join(TARGET, logFileName(newest + 5)), Buffer.alloc(64));
  const before = tree(vfs, TARGET);
  await assert.rejects(backup(env, vfs, { update: true }), code('INVALID_ARGUMENT', new RegExp(`has ${logFileName(newest + 5)}, newer than the newest log of /env`)));
  vfs.unlink(path.join(TARGET, logFileName(newest + 5)));
  before.delete(path.join(TARGET, logFileName(newest + 5)));
  assert.deepEqual(tree(vfs, TARGET), before, 'nothing else changed');

  // A source that reports no log files at all.
  const empty: BackupSource = { ...environmentSource(env), pin: async () => ({ redo: env.redoPoint, end: env.logEnd, removable: [], logFiles: [], release: () => {} }) };
  await assert.rejects(runHotBackup(empty, TARGET, { vfs, update: true }), code('NOT_FOUND', /no log files in \/env; nothing to update the backup with/));
  await env.close();
});

test('the manifest: unreadable, of another format, logs missing before its start (one or several), no logs; recordRecovery moves `required`', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs);
  await fill(env, 'a.db', 0, 10);
  await env.checkpoint();
  for (let i = 0; i < 30; i++) await fill(env, 'a.db', 100 + i * 20, 20);
  await backup(env, vfs, { recover: false });
  await env.close();
  const m = readManifest(vfs, TARGET)!;
  assert.equal(m.state, 'copied');
  const logs = listLogFiles(vfs, TARGET);
  assert.ok(logs.length >= 3);

  // Logs missing before the recorded start: one, then several.
  const required = Math.floor(m.required / 2 ** 32);
  writeManifest(vfs, TARGET, { ...m, required: (logs[0]! - 1) * 2 ** 32 + 64, requiredLsn: `[${logs[0]! - 1}][64]` });
  assert.throws(() => checkBackupLogs(vfs, TARGET), code('NOT_FOUND', new RegExp(`log files ${logFileName(logs[0]! - 1)} are missing`)));
  writeManifest(vfs, TARGET, { ...m, required: (logs[0]! - 3) * 2 ** 32 + 64, requiredLsn: `[${logs[0]! - 3}][64]` });
  assert.throws(() => checkBackupLogs(vfs, TARGET), code('NOT_FOUND', new RegExp(`log files ${logFileName(logs[0]! - 3)} … ${logFileName(logs[0]! - 1)} are missing`)));
  writeManifest(vfs, TARGET, m);
  assert.equal(required, logs[0]);

  // recordRecovery after a catastrophic recovery outside db_hotbackup: state recovered, required moved past the last commit.
  const report = await Environment.recover(TARGET, { vfs, catastrophic: true });
  recordRecovery(vfs, TARGET, { start: report.start, end: report.end, transactions: report.transactions, durationMs: report.durationMs });
  const after = readManifest(vfs, TARGET)!;
  assert.equal(after.state, 'recovered');
  // F4: not past the log a data file's meta page says it needs (the only checkpoint's redo
  // point, in the first file here), though the last commit is files later.
  const lastCommit = afterLastCommit(vfs, TARGET, env.envId);
  const needsLog = listDataFiles(vfs, readLayout(vfs, TARGET), env.envId).own.map((f) => f.needsLog);
  assert.equal(after.required, Math.min(lastCommit, ...needsLog));
  assert.ok(Math.floor(after.required / 2 ** 32) < Math.floor(lastCommit / 2 ** 32), `needsLog ${needsLog.map(formatLsn)} before the file of the last commit ${formatLsn(lastCommit)}`);
  // From any record boundary (as a hot backup passes its pinned log end), the same answer as the full scan.
  const boundaries: number[] = [];
  for (const raw of new LogReader(vfs, TARGET, env.envId).records()) boundaries.push(raw.lsn, raw.next);
  assert.ok(boundaries.length > 100, `${boundaries.length} boundaries`);
  for (const b of new Set(boundaries)) assert.equal(afterLastCommit(vfs, TARGET, env.envId, b), lastCommit, `from ${b}`);
  assert.ok(after.required >= m.required);
  assert.equal(after.recovery?.lastCommit, undefined);
  const when = new Date(1_800_000_000_000);
  recordRecovery(vfs, TARGET, { start: report.start, end: 'not an lsn', transactions: 1, lastCommit: when, durationMs: 1 });
  assert.equal(readManifest(vfs, TARGET)!.recovery?.lastCommit, when.toISOString());
  assert.equal(readManifest(vfs, TARGET)!.end, after.end, 'an unreadable end keeps the recorded one');
  assert.equal(afterLastCommit(vfs, '/nothing-here', env.envId), 2 ** 32 + 64, 'no logs: the start of log file 1');
  recordRecovery(vfs, '/nothing-here', { start: '', end: '', transactions: 0, durationMs: 0 }); // no manifest: nothing to do
  assert.equal(vfs.stat(path.join('/nothing-here', MANIFEST_FILE)), undefined);

  // afterLastCommit over a log without any commit: the start of the first file.
  const bare = fresh();
  const e2 = await openEnv(bare, {}, '/bare');
  await e2.close();
  assert.equal(afterLastCommit(bare, '/bare', e2.envId) % 2 ** 32, 64);

  // No logs at all.
  for (const n of listLogFiles(vfs, TARGET)) vfs.unlink(path.join(TARGET, logFileName(n)));
  assert.throws(() => checkBackupLogs(vfs, TARGET), code('NOT_FOUND', /has no log files; its manifest says recovery needs every log file from/));
  // Unreadable and foreign manifests.
  vfs.writeFile(path.join(TARGET, MANIFEST_FILE), Buffer.from('{"format": '));
  assert.throws(() => readManifest(vfs, TARGET), corrupt(path.join(TARGET, MANIFEST_FILE), 0, /is not a readable backup manifest/));
  vfs.writeFile(path.join(TARGET, MANIFEST_FILE), Buffer.from('null'));
  assert.throws(() => readManifest(vfs, TARGET), corrupt(path.join(TARGET, MANIFEST_FILE), 0, /is not a cairn backup manifest \(format undefined\)/));
  vfs.writeFile(path.join(TARGET, MANIFEST_FILE), Buffer.from('{"format":"other/2"}'));
  assert.throws(() => readManifest(vfs, TARGET), code('CORRUPT', /\(format "other\/2"\)/));
});

test('the backup lock: held by this process, by a process of another boot, unreadable and fresh, unreadable and stale; a failed create', () => {
  const vfs = fresh({ clock: () => Date.now() });
  vfs.mkdir(TARGET);
  const p = path.join(TARGET, BACKUP_LOCK_FILE);
  const lock = acquireBackupLock(vfs, TARGET);
  assert.equal(backupLockHolder(vfs, TARGET), process.pid, 'this very process holds it');
  assert.throws(() => acquireBackupLock(vfs, TARGET), code('LOCKED', new RegExp(`another db_hotbackup \\(process ${process.pid}\\) is writing to /backup`)));
  lock.release();
  lock.release(); // twice: harmless
  assert.equal(vfs.stat(p), undefined);
  // A holder of another boot is gone, whatever its pid.
  vfs.writeFile(p, Buffer.from(JSON.stringify({ pid: process.ppid, startedAt: '', bootId: 'another-boot', token: 'x' })));
  assert.equal(backupLockHolder(vfs, TARGET), undefined);
  const l2 = acquireBackupLock(vfs, TARGET);
  // Released after someone else removed it: nothing to do.
  vfs.unlink(p);
  l2.release();
  // Not an integer pid, or not JSON: nobody holds it.
  vfs.writeFile(p, Buffer.from('{"pid":"12"}'));
  assert.equal(backupLockHolder(vfs, TARGET), undefined);
  vfs.writeFile(p, Buffer.from('{"pid'));
  assert.equal(backupLockHolder(vfs, TARGET), undefined);
  // Unreadable and just written: its creator may be writing it right now.
  assert.throws(() => acquireBackupLock(vfs, TARGET), code('LOCKED', /another db_hotbackup is starting in \/backup/));
  // Unreadable and old: stale, taken over.
  const old = fresh();
  old.mkdir(TARGET);
  old.writeFile(p, Buffer.from('{"pid'));
  const l3 = acquireBackupLock(old, TARGET);
  assert.equal(backupLockHolder(old, TARGET), process.pid);
  l3.release();
  // Creating the lock fails otherwise than EEXIST: that error.
  old.inject({ op: 'open', pathIncludes: BACKUP_LOCK_FILE, errno: 'EIO' });
  assert.throws(() => acquireBackupLock(old, TARGET), (e: unknown) => e instanceof IoError && e.errno === 'EIO');
});

test('db_archive from disk: refuses a copy never recovered and an unfinished recovery; removal holds the owner lock and reports a live owner', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs);
  await fill(env, 'a.db', 0, 10);
  await env.checkpoint();
  for (let i = 0; i < 30; i++) await fill(env, 'a.db', 100 + i * 20, 20);
  await env.checkpoint();
  // While the owner lives, removal from disk is refused with what to do.
  assert.throws(() => archiveFromDisk(vfs, HOME, { remove: true }), code('LOCKED', /run db_archive -d again: it then works through that process/));
  await env.close();
  const ctl = readControl(vfs, HOME)!;
  writeControl(vfs, HOME, { ...ctl, state: 'recovering', recovery: 'catastrophic' });
  assert.throws(() => archiveFromDisk(vfs, HOME, {}), (e: unknown) => e instanceof RunRecoveryError && /a recovery of \/env did not finish.*run db_recover -c -h \/env first/.test(e.message));
  writeControl(vfs, HOME, { ...ctl, state: 'recovering', recovery: 'normal' });
  assert.throws(() => archiveFromDisk(vfs, HOME, {}), (e: unknown) => e instanceof RunRecoveryError && /run db_recover -h \/env first/.test(e.message));
  writeControl(vfs, HOME, ctl);
  const removable = archiveFromDisk(vfs, HOME, {}).names;
  assert.ok(removable.length >= 1);
  // A failed unlink is reported, and the owner lock is released after it.
  vfs.inject({ op: 'unlink', pathIncludes: 'log.', errno: 'EIO' });
  assert.throws(() => archiveFromDisk(vfs, HOME, { remove: true }), (e: unknown) => e instanceof IoError && e.errno === 'EIO');
  vfs.clearFaults();
  assert.deepEqual(archiveFromDisk(vfs, HOME, { remove: true }).names, removable);
  // The owner lock cannot even be created: that I/O error, not a refusal.
  vfs.inject({ op: 'open', pathIncludes: '__cairn.lock', errno: 'EROFS' });
  assert.throws(() => archiveFromDisk(vfs, HOME, { remove: true }), (e: unknown) => e instanceof IoError && e.errno === 'EROFS');
  vfs.clearFaults();
  // A copy that was never recovered has no control file.
  vfs.unlink(path.join(HOME, '__cairn.control'));
  assert.throws(() => archiveFromDisk(vfs, HOME, {}), (e: unknown) => e instanceof RunRecoveryError && /has log files but no control file/.test(e.message));
  // -s on it still works: the environment id comes from the first log's header.
  assert.deepEqual(archiveFromDisk(vfs, HOME, { data: true }).names, ['a.db']);
});

test('layout helpers: ids from the first log, a damaged header, no logs; data directories that are not directories; the home printed as "."', () => {
  const vfs = fresh();
  const dirs = readLayout(vfs, HOME);
  assert.equal(readEnvId(vfs, dirs), undefined, 'no control file, no logs: no id');
  vfs.writeFile(path.join(HOME, logFileName(1)), Buffer.alloc(64));
  assert.throws(() => readEnvId(vfs, dirs), corrupt(path.join(HOME, logFileName(1)), 0, /log\.0000000001 at offset 0: log file header is damaged/));
  vfs.writeFile(path.join(HOME, logFileName(1)), encodeLogHeader({ fileNo: 1, fileSize: 32768, envId: Buffer.alloc(16, 3), prevEnd: 0 }));
  assert.deepEqual(readEnvId(vfs, dirs), Buffer.alloc(16, 3));
  vfs.writeFile('/notadir', Buffer.from('x'));
  const odd = { ...dirs, dataDirs: ['/notadir', '/missing', HOME] };
  vfs.writeFile(path.join(HOME, 'junk.db'), Buffer.from('not ours'));
  vfs.mkdir(path.join(HOME, 'sub.db'));
  const listed = listDataFiles(vfs, odd);
  assert.deepEqual(listed.own, []);
  assert.deepEqual(listed.other, [path.join(HOME, 'junk.db')]);
  assert.equal(displayPath(dirs, HOME, false), '.');
  assert.equal(displayPath(dirs, path.join(HOME, 'x'), true), '/env/x');
});

test('a page caught mid-write: a half-written last page is read again whole; a bad page that then is gone ends the copy before it', async () => {
  const vfs = fresh();
  const env = await openEnv(vfs);
  await fill(env, 'a.db', 0, 30);
  await env.checkpoint();
  const a = path.join(HOME, 'a.db');
  const pages = vfs.stat(a)!.size / PAGE;
  assert.ok(pages >= 4);
  /** The copy's handle of a.db (its second read-only open) sees `race` on its first chunk read. */
  const racing = (race: (buf: Uint8Array, got: number) => number, later: (pos: number) => number | undefined) => {
    let opens = 0;
    return hooked(vfs, {
      open: (p, o) => {
        const h = vfs.open(p, o);
        if (p !== a || !o?.readOnly || ++opens !== 2) return h;
        let first = true;
        const w: FileHandle = {
          path: h.path,
          read: (buf, pos) => {
            if (first) {
              first = false;
              return race(buf, h.read(buf, pos));
            }
            return later(pos) ?? h.read(buf, pos);
          },
          write: (b, pos) => h.write(b, pos),
          size: () => h.size(),
          truncate: (n) => h.truncate(n),
          sync: () => h.sync(),
          syncAsync: () => h.syncAsync(),
          close: () => h.close(),
        };
        return w;
      },
    });
  };
  // The last page half there on the first read, whole on the next: copied whole.
  const said: string[] = [];
  let r = await backup(env, racing((_b, got) => got - PAGE / 2, () => undefined), { log: (m) => said.push(m) });
  assert.equal(vfs.stat(path.join(TARGET, 'a.db'))!.size, pages * PAGE);
  assert.match(said.find((m) => m.startsWith('copying database'))!, /\(\d+ pages verified, 1 read again\)/);
  // Page 2 garbled on the first read and past the end on the next (the file shrank): the copy ends before it.
  r = await backup(env, racing((buf, got) => {
    Buffer.from(buf.buffer, buf.byteOffset + 2 * PAGE + 100, 8).fill(0xee);
    return got;
  }, (pos) => (pos >= 2 * PAGE ? 0 : undefined)), { recover: false, log: (m) => said.push(m) });
  assert.ok(said.includes(`${a}: page 2 is being added right now; the copy ends before it (the log rebuilds it)`), said.join('\n'));
  assert.equal(vfs.stat(path.join(TARGET, 'a.db'))!.size, 2 * PAGE);
  assert.deepEqual(r.dataFiles, ['a.db']);
  await env.close();
});
