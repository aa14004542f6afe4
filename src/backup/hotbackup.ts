// Hot backup (issue 3, docs/BACKUP.md): a recoverable copy of a live environment.
//
//   1. lock the target (a second backup into it is refused) and check what it holds (lockTarget);
//   2. optionally checkpoint the source (-c; unlike Berkeley DB this never removes its logs);
//   3. pin the source's log files (I5: no removal, automatic or db_archive -d, while copying) and
//      take the redo point R: the data files already hold every change logged before R (pinSource);
//   4. full backup: copy every data file page by page (copyDataFiles), verifying each page's checksum and
//      identity (a page that fails is read again: it may be mid-write; one that keeps failing
//      is an error) — then the log files from R's file to the end, newest first (a file is
//      complete once the next one exists, so reading newest first never catches an older file
//      short); -u instead moves the source's inactive logs into the backup and copies the
//      active ones, after checking that no log would be missing (I7) (copyOrMoveLogs);
//   5. unpin, write the manifest (files, sizes, sha256, start = R, times, envId) (writeCopiedManifest);
//   6. catastrophic recovery in the target (which refuses gaps, foreign files, pages past the end
//      of the log, corrupt records: I7), then remove the log files it no longer needs (recoverTarget).
//
// Progress (opts.progress, src/util/progress.ts): bytes copied of the total, phase 'data' for the
// data files, then 'logs', then the target's recovery ('recovery'); opts.log gets the steps as lines.
//
// The source is either an Environment open in this process (env.hotBackup) or the owner of the
// environment reached through its coordination channel (db_hotbackup with a live owner): the
// copying is the same, only checkpoint and pin go through the owner.

import * as path from 'node:path';
import { Environment, type HotBackupOptions, type HotBackupReport, type RecoveryReport } from '../env/environment.js';
import type { ChannelClient, ChannelStatus } from '../env/channel.js';
import { KEEP_LOGS_LINE } from '../log/retention.js';
import { nodeVfs } from '../io/node.js';
import type { Vfs } from '../io/vfs.js';
import { logFileName } from '../log/file.js';
import { pageMapPath } from '../page/lsnmap.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { CairnError, IoError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, parseLsn } from '../util/lsn.js';
import { type Dirs, listDataFiles } from './layout.js';
import { BACKUP_LOCK_FILE, MANIFEST_FILE, MANIFEST_FORMAT, type Manifest, type ManifestFile, acquireBackupLock, checkBackupLogs, requiredAfterRecovery, writeManifest } from './manifest.js';
import type { ProgressCallback } from '../util/progress.js';
import { ctime } from '../util/time.js';
import { mkdirp, PendingSyncs, copyPlain, copyDataFile, logHeaderCheck, moveLogFile } from './copy.js';
import { type TargetDirs, checkBackupTarget, regularFiles, targetLayout } from './target.js';
export { checkBackupTarget } from './target.js';

/** Where the backup copies from: checkpoint and pin go through the owner. */
export interface BackupSource {
  readonly dirs: Dirs;
  readonly envId: Buffer;
  checkpoint(): Promise<void>;
  /** Flushes the log, pins every log file present, and says where the redo point and the end are. */
  pin(): Promise<SourcePin>;
}

export interface SourcePin {
  redo: Lsn;
  end: Lsn;
  /** Logs normal recovery no longer needs (and no other backup pinned), just before this pin. */
  removable: number[];
  logFiles: number[];
  release(): Promise<void> | void;
}

/** The source is an Environment open in this process. */
export function environmentSource(env: Environment): BackupSource {
  return {
    dirs: env.dirs,
    envId: env.envId,
    checkpoint: () => env.checkpoint(),
    pin: async () => {
      await env.flushLog();
      // Synchronous from here: no removal can slip in between listing and pinning.
      const logFiles = listLogFiles(env.vfs, env.logDir);
      const removable = env.removableLogs();
      const release = env.pinLogs(logFiles[0] ?? 1);
      return { redo: env.redoPoint, end: env.logEnd, removable, logFiles, release };
    },
  };
}

/** The source is the live owner of the environment, reached through its channel. */
export function channelSource(client: ChannelClient, status: ChannelStatus): BackupSource {
  return {
    dirs: { home: status.home, logDir: status.logDir, dataDirs: status.dataDirs, createDir: status.createDir },
    envId: Buffer.from(status.envId, 'hex'),
    checkpoint: async () => {
      await client.checkpoint();
    },
    pin: async () => {
      const p = await client.pin();
      return {
        redo: p.redo,
        end: p.end,
        removable: p.removable,
        logFiles: p.logFiles,
        release: async () => {
          try {
            await client.unpin(p.pin);
          } catch {
            // the owner went away: its pins went with it
          }
        },
      };
    },
  };
}

export interface BackupRunOptions extends HotBackupOptions {
  vfs?: Vfs;
  /** What each step does, one line each (db_hotbackup -v); the numbers go to `progress`. */
  log?: (message: string) => void;
  /** Run catastrophic recovery in the target (default true; false: copy only, recover later). */
  recover?: boolean;
}

/** What a run did; `recovery` is missing when the run was told not to recover. */
export type BackupResult = Omit<HotBackupReport, 'recovery'> & { recovery?: RecoveryReport };

// ---- the run -----------------------------------------------------------------------------------

/** Bytes done of a total in one phase of the run, reported to the progress callback as they grow. */
class Meter {
  private done = 0;
  private total = 0;
  constructor(
    private readonly phase: string,
    private readonly report: ProgressCallback | undefined,
  ) {}

  /** More bytes to do (the files of the phase, or a log file the source started meanwhile). */
  grow(bytes: number): void {
    this.total += bytes;
  }

  /** Bytes done. */
  add(bytes: number): void {
    this.done += bytes;
    this.report?.({ phase: this.phase, done: this.done, total: Math.max(this.total, this.done), unit: 'bytes' });
  }
}

/** One run's state, shared by its phases. */
interface Run {
  readonly vfs: Vfs;
  readonly source: BackupSource;
  readonly src: Dirs;
  readonly target: string;
  readonly tdirs: TargetDirs;
  readonly layout: 'flat' | 'config';
  readonly say: (m: string) => void;
  readonly progress: ProgressCallback | undefined;
  readonly syncs: PendingSyncs;
  /** What the manifest lists, in the order copied. */
  readonly files: ManifestFile[];
  readonly logsCopied: string[];
  readonly logsMoved: string[];
  /** Bytes copied or moved. */
  bytes: number;
  /** The path of a target file relative to the target. */
  readonly rel: (p: string) => string;
}

/** 1. The target: made if missing, locked against a second backup. Returns the lock. */
function lockTarget(vfs: Vfs, target: string): ReturnType<typeof acquireBackupLock> {
  try {
    mkdirp(vfs, target);
  } catch (e) {
    throw new CairnError('IO', `cannot create the backup directory ${target} (${e instanceof IoError ? e.errno : (e as Error).message}); choose a directory you can write`, { cause: e });
  }
  if (!vfs.stat(target)?.isDirectory) throw new CairnError('INVALID_ARGUMENT', `the backup directory ${target} is not a directory; choose a directory`);
  try {
    return acquireBackupLock(vfs, target);
  } catch (e) {
    if (e instanceof IoError) throw new CairnError('IO', `cannot write in the backup directory ${target} (${e.errno}); choose a directory you can write`, { cause: e });
    throw e;
  }
}

/** 2–3. Optionally checkpoints the source, then pins its log files and takes the redo point (I5). */
async function pinSource(run: Run, checkpoint: boolean, startedAt: Date): Promise<SourcePin> {
  run.say(`hot backup started at ${ctime(startedAt)}`);
  if (checkpoint) {
    run.say(`${run.src.home}: force checkpoint`);
    await run.source.checkpoint();
  }
  return await run.source.pin();
}

/**
 * Copies log files newest first: a file that fills up during the copy is then followed by a
 * successor we did not take, never copied half-written before one we did.
 */
async function copyLogFiles(run: Run, meter: Meter, numbers: number[]): Promise<void> {
  const { vfs, src, tdirs, files, rel } = run;
  for (const n of [...numbers].reverse()) {
    const from = path.join(src.logDir, logFileName(n));
    const to = path.join(tdirs.logDir, logFileName(n));
    const r = await copyPlain(vfs, from, to, logHeaderCheck(vfs, from, n, run.source.envId), run.syncs, (b) => meter.add(b));
    run.say(`copying ${from} to ${to}`);
    const again = files.findIndex((f) => f.path === rel(to));
    if (again >= 0) files.splice(again, 1); // copied again by catchUp: the later copy counts
    else run.logsCopied.push(rel(to));
    files.push({ path: rel(to), kind: 'log', size: r.size, sha256: r.sha256, how: 'copied' });
    run.bytes += r.size;
  }
  if (numbers.length > 0) run.say(`lowest numbered log file copied: ${numbers[0]}`);
}

/**
 * Log files the source started while the list was copied: copied too, newest first, with the
 * newest of the list again (complete now that a later file exists). Without this, commits
 * acknowledged between listing the logs and copying the newest one would be missing.
 */
async function catchUp(run: Run, meter: Meter, copied: number[]): Promise<void> {
  let newest = copied[copied.length - 1];
  for (let round = 0; round < 16 && newest !== undefined; round++) {
    const later = listLogFiles(run.vfs, run.src.logDir).filter((n) => n >= newest!);
    if (later.length <= 1) return;
    meter.grow(sizeOf(run.vfs, later.map((n) => path.join(run.src.logDir, logFileName(n)))));
    await copyLogFiles(run, meter, later);
    newest = later[later.length - 1]!;
  }
}

/** The bytes the files at `paths` hold now (a missing one: none). */
function sizeOf(vfs: Vfs, paths: string[]): number {
  let sum = 0;
  for (const p of paths) sum += vfs.stat(p)?.size ?? 0;
  return sum;
}

/**
 * 4a. Full backup: cleans the earlier backup out of the target, then copies the page LSN map,
 * every data file (page by page, verified) and, with -D, DB_CONFIG. Returns the data files copied.
 */
async function copyDataFiles(run: Run, base: Omit<Manifest, 'state' | 'files'>, start: Lsn): Promise<ManifestFile[]> {
  const { vfs, src, target, tdirs, files, rel, say } = run;
  // Clean the earlier backup of this environment out of the target, its manifest last: a
  // run stopped half way leaves a directory that is still recognised as a backup to replace.
  for (const d of new Set([target, tdirs.logDir, ...tdirs.dataMap.values()])) {
    for (const n of regularFiles(vfs, d)) if (n !== BACKUP_LOCK_FILE && !(d === target && n === MANIFEST_FILE)) vfs.unlink(path.join(d, n));
    vfs.syncDir(d);
  }
  if (vfs.stat(path.join(target, MANIFEST_FILE)) !== undefined) {
    vfs.unlink(path.join(target, MANIFEST_FILE));
    vfs.syncDir(target);
  }
  writeManifest(vfs, target, { ...base, state: 'copying', files });

      // The planted bug backup-logs-first copies the log here, before the data files (and drops the log copy after them):
      // PLANT(backup-logs-first): for (const n of listLogFiles(vfs, src.logDir).filter((x) => x >= lsnFile(start)).reverse()) { const to = path.join(tdirs.logDir, logFileName(n)); const r = await copyPlain(vfs, path.join(src.logDir, logFileName(n)), to); files.push({ path: rel(to), kind: 'log', size: r.size, sha256: r.sha256, how: 'copied' }); run.logsCopied.push(rel(to)); }
  // The page LSN map, now that the redo point is taken: whichever map is on disk was written
  // by the checkpoint that set it or a later one, so it holds the right LSN for every page
  // the log copied from R does not touch (src/page/lsnmap.ts). Without it recovery of the
  // copy does not check those pages for staleness.
  if (vfs.stat(pageMapPath(src.home)) !== undefined) {
    const to = pageMapPath(target);
    const r = await copyPlain(vfs, pageMapPath(src.home), to);
    files.push({ path: rel(to), kind: 'pagemap', size: r.size, sha256: r.sha256, how: 'copied' });
  }
  // Data files first (I4: they must be older than the log copied after them).
  const { own, foreign, other } = listDataFiles(vfs, src, run.source.envId);
  for (const f of foreign) say(`skipping ${f}: a data file of another environment`);
  for (const f of other) say(`skipping ${f}: not a cairn data file`);
  const meter = new Meter('data', run.progress);
  meter.grow(sizeOf(vfs, own.map((f) => f.path)));
  const names = new Map<string, string>();
  for (const f of own) {
    const to = path.join(tdirs.dataMap.get(path.dirname(f.path)) ?? target, f.name);
    const clash = names.get(to);
    if (clash !== undefined) throw new CairnError('INVALID_ARGUMENT', `${clash} and ${f.path} would both be ${to}; back up with -D to keep the data directories apart`);
    names.set(to, f.path);
    let r;
    try {
      r = await copyDataFile(vfs, f, to, say, run.syncs, (b) => meter.add(b));
    } catch (e) {
      if (!(e instanceof IoError && e.errno === 'ENOENT' && vfs.stat(f.path) === undefined)) throw e;
      say(`${f.path} was removed or renamed while the backup ran; recovery replays that from the log`);
      continue;
    }
    say(`copying database ${f.path} to ${to} (${r.pages} pages verified${r.reread > 0 ? `, ${r.reread} read again` : ''})`);
    files.push({ path: rel(to), kind: 'data', size: r.size, sha256: r.sha256, how: 'copied', pages: r.pages, reread: r.reread });
    run.bytes += r.size;
  }
  if (run.layout === 'config' && vfs.stat(path.join(src.home, 'DB_CONFIG')) !== undefined) {
    const to = path.join(target, 'DB_CONFIG');
    const r = await copyPlain(vfs, path.join(src.home, 'DB_CONFIG'), to, undefined, run.syncs);
    say(`copying ${path.join(src.home, 'DB_CONFIG')} to ${to}`);
    files.push({ path: 'DB_CONFIG', kind: 'config', size: r.size, sha256: r.sha256, how: 'copied' });
  }
  for (const d of new Set(tdirs.dataMap.values())) vfs.syncDir(d);
  return files.filter((f) => f.kind === 'data');
}

/** 4b. Full backup: the log, from the redo point's file to the end, newest first. */
async function copyLogsFrom(run: Run, start: Lsn): Promise<void> {
  const { vfs, src } = run;
  const logs = listLogFiles(vfs, src.logDir);
  const first = lsnFile(start);
  if (!logs.includes(first)) {
    throw new CairnError('NOT_FOUND', `log file ${logFileName(first)}, needed from the redo point ${formatLsn(start)}, is missing in ${src.logDir}; the source environment has lost log files: check it (db_archive -l) before backing it up`);
  }
  const toCopy = logs.filter((n) => n >= first);
  for (let i = 1; i < toCopy.length; i++) {
    if (toCopy[i] !== toCopy[i - 1]! + 1) throw new CairnError('CORRUPT', `log file ${logFileName(toCopy[i - 1]! + 1)} is missing in ${src.logDir} (have ${logFileName(toCopy[i]!)} after it); the source has a gap in its log`);
  }
  const meter = new Meter('logs', run.progress);
  meter.grow(sizeOf(vfs, toCopy.map((n) => path.join(src.logDir, logFileName(n)))));
  await copyLogFiles(run, meter, toCopy); // PLANT(backup-logs-first):
  await catchUp(run, meter, toCopy);
}

/** 4c. -u: move the inactive logs, copy the active ones; refuse anything that leaves a gap (I7). */
async function moveAndCopyLogs(run: Run, base: Omit<Manifest, 'state' | 'files'>, prev: Manifest, pin: SourcePin): Promise<void> {
  const { vfs, src, target, tdirs, files, rel } = run;
  const have = listLogFiles(vfs, tdirs.logDir);
  const logs = pin.logFiles;
  const need = lsnFile(prev.required);
  if (logs.length === 0) throw new CairnError('NOT_FOUND', `no log files in ${src.logDir}; nothing to update the backup with`);
  const newest = logs[logs.length - 1]!;
  if (have.length > 0 && have[have.length - 1]! > newest) {
    throw new CairnError('INVALID_ARGUMENT', `the backup in ${target} has ${logFileName(have[have.length - 1]!)}, newer than the newest log of ${src.home} (${logFileName(newest)}); it is not a backup of this environment's current history: take a full backup`);
  }
  const union = new Set([...have, ...logs]);
  for (let n = need; n <= newest; n++) {
    if (!union.has(n)) {
      throw new CairnError(
        'NOT_FOUND',
        `cannot update ${target}: it needs every log file from ${logFileName(need)} (its data files are recovered to ${prev.requiredLsn}), but ${logFileName(n)} is neither in the backup nor in ${src.logDir} (removed from the source before this update could take it: by db_archive -d, or by its checkpoints unless its DB_CONFIG has "${KEEP_LOGS_LINE}"); add that line if it is missing, then take a full backup (db_hotbackup without -u)`,
      );
    }
  }
  writeManifest(vfs, target, { ...base, state: 'copying', files });
  const removable = new Set(pin.removable);
  const toMove = logs.filter((n) => removable.has(n));
  const toCopy = logs.filter((n) => !removable.has(n));
  const meter = new Meter('logs', run.progress);
  meter.grow(sizeOf(vfs, logs.map((n) => path.join(src.logDir, logFileName(n)))));
  for (const n of toMove) {
    const from = path.join(src.logDir, logFileName(n));
    const to = path.join(tdirs.logDir, logFileName(n));
    const r = await moveLogFile(vfs, from, to, n, run.source.envId);
    run.say(`moving ${from} to ${to}`);
    files.push({ path: rel(to), kind: 'log', size: r.size, sha256: r.sha256, how: 'moved' });
    run.logsMoved.push(rel(to));
    run.bytes += r.size;
    meter.add(r.size);
  }
  if (toMove.length > 0) {
    vfs.syncDir(tdirs.logDir);
    vfs.syncDir(src.logDir);
  }
  await copyLogFiles(run, meter, toCopy);
  await catchUp(run, meter, toCopy.length > 0 ? toCopy : logs);
}

/** 4. The logs, after the data files (full backup) or moved and copied (-u); every copy durable before it returns. */
async function copyOrMoveLogs(run: Run, base: Omit<Manifest, 'state' | 'files'>, start: Lsn, prev: Manifest | undefined, pin: SourcePin): Promise<void> {
  if (base.kind === 'update') await moveAndCopyLogs(run, base, prev!, pin);
  else await copyLogsFrom(run, start);
  await run.syncs.done();
  run.vfs.syncDir(run.tdirs.logDir);
}

/** 5. The manifest that says the backup is copied (the log pins are released before). */
function writeCopiedManifest(run: Run, base: Omit<Manifest, 'state' | 'files'>, dataFiles: ManifestFile[]): Manifest {
  const copied: Manifest = { ...base, dataFiles, state: 'copied', files: run.files, finishedAt: undefined };
  writeManifest(run.vfs, run.target, copied);
  // I7: the first log must not be later than the recorded start (also checked by every recovery).
  checkBackupLogs(run.vfs, run.target);
  return copied;
}

/**
 * 6. Catastrophic recovery in the target, then removal of the log files it no longer needs —
 * up to the last complete transaction, and up to the log any data file's meta page says it
 * needs (the next db_recover -c refuses a data file whose needsLog is older than the first log
 * file: F4). Returns what recovery did, the logs removed and the new required LSN.
 */
async function recoverTarget(run: Run, keepLogs: boolean, pinnedEnd: Lsn): Promise<{ recovery: RecoveryReport; removed: string[]; required: Lsn }> {
  const { vfs, target, tdirs } = run;
  run.say(`${target}: run catastrophic recovery`);
  const recovery = await Environment.recover(target, { catastrophic: true, vfs, progress: run.progress });
  const required = requiredAfterRecovery(vfs, tdirs, run.source.envId, pinnedEnd);
  run.say(`Recovery starting from ${recovery.start}`);
  run.say(`Recovery complete at ${ctime()}: ${recovery.transactions} transactions, end of log ${recovery.end}`);
  const removed: string[] = [];
  if (!keepLogs) {
    run.say(`${target}: remove unnecessary log files`);
    for (const n of listLogFiles(vfs, tdirs.logDir)) {
      if (n >= lsnFile(required)) break;
      const p = path.join(tdirs.logDir, logFileName(n));
      run.say(`removing ${p}`);
      vfs.unlink(p);
      removed.push(run.rel(p));
    }
    if (removed.length > 0) vfs.syncDir(tdirs.logDir);
  }
  return { recovery, removed, required };
}

/** The final manifest (recovered, or copied only), and what the run did. */
function finishBackup(run: Run, copied: Manifest, prev: Manifest | undefined, recovered: Awaited<ReturnType<typeof recoverTarget>> | undefined, t0: number): BackupResult {
  const { vfs, target } = run;
  const recovery = recovered?.recovery;
  const removed = recovered?.removed ?? [];
  const required = recovered?.required ?? copied.required;
  const finishedAt = new Date();
  const endLsn = recovery !== undefined ? parseLsn(recovery.end)! : new LogReader(vfs, run.tdirs.logDir, run.source.envId).findEnd();
  const end = formatLsn(endLsn);
  const entry = { kind: copied.kind, startedAt: copied.startedAt, start: copied.startLsn, logsCopied: run.logsCopied.length, logsMoved: run.logsMoved.length };
  writeManifest(vfs, target, {
    ...copied,
    state: recovery !== undefined ? 'recovered' : 'copied',
    end: endLsn,
    endLsn: end,
    required,
    requiredLsn: formatLsn(required),
    finishedAt: finishedAt.toISOString(),
    recovery: recovery && { start: recovery.start, end: recovery.end, transactions: recovery.transactions, lastCommit: recovery.lastCommit?.toISOString(), durationMs: Math.round(recovery.durationMs) },
    removedLogs: removed,
    history: [...(prev?.history ?? []), { ...entry, finishedAt: finishedAt.toISOString(), end }].slice(-20),
  });
  run.say(`hot backup completed at ${ctime(finishedAt)}`);
  return {
    dir: target,
    dataFiles: copied.dataFiles.map((f) => f.path),
    logsCopied: run.logsCopied,
    logsMoved: run.logsMoved,
    startLsn: copied.startLsn,
    endLsn: end,
    bytes: run.bytes,
    durationMs: performance.now() - t0,
    recovery,
    manifest: path.join(target, MANIFEST_FILE),
    logsRemoved: removed,
    requiredLsn: formatLsn(required),
  };
}

/**
 * A hot backup of `source` into `dir`, in the phases the header lists: lockTarget, pinSource,
 * copyDataFiles (full backup), copyOrMoveLogs, writeCopiedManifest, recoverTarget, finishBackup.
 */
export async function runHotBackup(source: BackupSource, dir: string, opts: BackupRunOptions = {}): Promise<BackupResult> {
  const vfs = opts.vfs ?? nodeVfs;
  const t0 = performance.now();
  const startedAt = new Date();
  const target = path.resolve(dir);
  const src = source.dirs;
  const layout = opts.layout ?? 'flat';
  const update = opts.update === true;

  checkBackupTarget(vfs, src, source.envId, target, { update, layout });
  const tdirs = targetLayout(vfs, src, target, layout);
  const lock = lockTarget(vfs, target);
  const run: Run = {
    vfs, source, src, target, tdirs, layout,
    say: opts.log ?? (() => {}),
    progress: opts.progress,
    syncs: new PendingSyncs(),
    files: [], logsCopied: [], logsMoved: [], bytes: 0,
    rel: (p: string) => path.relative(target, p),
  };
  let pin: SourcePin | undefined;
  try {
    const prev = checkBackupTarget(vfs, src, source.envId, target, { update, layout });
    pin = await pinSource(run, opts.checkpoint === true, startedAt);
    const start = pin.redo;
    const pinnedEnd = pin.end;
    const base: Omit<Manifest, 'state' | 'files'> = {
      format: MANIFEST_FORMAT,
      envId: source.envId.toString('hex'),
      source: src.home,
      layout,
      kind: update ? 'update' : 'full',
      start,
      startLsn: formatLsn(start),
      required: update ? prev!.required : start,
      requiredLsn: update ? prev!.requiredLsn : formatLsn(start),
      startedAt: startedAt.toISOString(),
      dataFiles: prev?.dataFiles ?? [],
      history: prev?.history ?? [],
    };
    for (const d of new Set([tdirs.logDir, ...tdirs.dataMap.values()])) mkdirp(vfs, d);
    const dataFiles = update ? base.dataFiles : await copyDataFiles(run, base, start);
    await copyOrMoveLogs(run, base, start, prev, pin);
    await pin.release();
    pin = undefined;
    const copied = writeCopiedManifest(run, base, dataFiles);

    const recovered = opts.recover !== false ? await recoverTarget(run, opts.keepLogs === true, pinnedEnd) : undefined;
    return finishBackup(run, copied, prev, recovered, t0);
  } finally {
    await run.syncs.done().catch(() => {}); // after a failure: the copies' handles closed, nothing left running
    if (pin !== undefined) await pin.release();
    lock.release();
  }
}
