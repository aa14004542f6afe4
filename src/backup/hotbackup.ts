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

import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Environment, type HotBackupOptions, type HotBackupReport, type RecoveryReport } from '../env/environment.js';
import type { ChannelClient, ChannelStatus } from '../env/channel.js';
import { CONTROL_FILE, type Control, readControl } from '../env/control.js';
import { readOwner } from '../env/lock.js';
import { KEEP_LOGS_LINE } from '../log/retention.js';
import { nodeVfs } from '../io/node.js';
import type { FileHandle, Vfs } from '../io/vfs.js';
import { LOG_HEADER_SIZE, decodeLogHeader, logFileName } from '../log/file.js';
import { pageMapPath } from '../page/lsnmap.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { checkPage, isZeroPage } from '../page/pager.js';
import { CairnError, CorruptionError, IoError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, parseLsn } from '../util/lsn.js';
import { type DataFileInfo, type Dirs, dataDirsOf, listDataFiles, readConfig } from './layout.js';
import {
  BACKUP_LOCK_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  type Manifest,
  type ManifestFile,
  acquireBackupLock,
  checkBackupLogs,
  readManifest,
  requiredAfterRecovery,
  writeManifest,
} from './manifest.js';
import type { ProgressCallback } from '../util/progress.js';
import { ctime } from '../util/time.js';

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

// ---- helpers -----------------------------------------------------------------------------------

const yieldNow = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A copy is flushed to disk every this many bytes (fdatasync in the thread pool, awaited): a
 * writer's commit fdatasync in the source then waits behind at most this much of the copy's
 * writeback instead of tens of MB (the device flush it ends with waits for all writes in flight).
 */
const WRITEBACK_STEP = 2 * 1024 * 1024;

/** Between two chunks of a copy: a flush of the copy every WRITEBACK_STEP bytes, else a turn of the event loop. */
function stepper(out: FileHandle): (bytes: number) => Promise<void> {
  let unsynced = 0;
  return async (bytes: number) => {
    unsynced += bytes;
    if (unsynced >= WRITEBACK_STEP) {
      unsynced = 0;
      await out.syncAsync();
    } else await yieldNow();
  };
}

/** Attempts to read a page that fails its check before calling it damaged. */
const PAGE_READS = 40;
const LOG_HEADER_READS = 40;

/** Why a copied page is not acceptable, or undefined. All zeros: allocated, never written. */
function pageProblem(page: Buffer, pgno: number, uid: number): string | undefined {
  if (isZeroPage(page)) return undefined;
  return checkPage(page, pgno, uid);
}

interface TargetDirs extends Dirs {
  /** Source data directory → target data directory. */
  dataMap: Map<string, string>;
}

function targetLayout(vfs: Vfs, src: Dirs, target: string, layout: 'flat' | 'config'): TargetDirs {
  const dataMap = new Map<string, string>();
  if (layout === 'flat') {
    for (const d of dataDirsOf(src)) dataMap.set(d, target);
    return { home: target, logDir: target, dataDirs: [], createDir: target, dataMap };
  }
  const cfg = readConfig(vfs, src.home);
  for (const raw of [...(cfg?.dataDirs ?? []), ...(cfg?.logDir !== undefined ? [cfg.logDir] : [])]) {
    const rel = path.relative(src.home, path.resolve(src.home, raw));
    if (path.isAbsolute(raw) || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new CairnError('CONFIG', `-D: DB_CONFIG of ${src.home} names the directory ${raw}, ${path.isAbsolute(raw) ? 'an absolute path' : 'outside the home'}; -D recreates only directories inside the home: make it relative, or back up without -D (everything flat in the backup directory)`);
    }
  }
  const map = (d: string) => path.join(target, path.relative(src.home, d));
  for (const d of dataDirsOf(src)) dataMap.set(d, map(d));
  return { home: target, logDir: map(src.logDir), dataDirs: src.dataDirs.map(map), createDir: map(src.createDir), dataMap };
}

function mkdirp(vfs: Vfs, dir: string): void {
  if (vfs.stat(dir)?.isDirectory) return;
  vfs.mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Reads a whole file in chunks, yielding to the event loop; returns sha256 and size. */
async function hashFile(vfs: Vfs, p: string): Promise<{ sha256: string; size: number }> {
  const h = vfs.open(p, { readOnly: true });
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let at = 0;
  try {
    for (;;) {
      const n = h.read(buf, at);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      at += n;
      if (n < buf.length) break;
      await yieldNow();
    }
  } finally {
    h.close();
  }
  return { sha256: hash.digest('hex'), size: at };
}

/**
 * The fdatasyncs of copied files, each started as its copy ends and all awaited before the
 * manifest says the backup is copied: the disk writes one file back while the next is copied,
 * and the source's writers keep committing (thread pool, not the event loop). The order in
 * which copies become durable does not matter — until the manifest says 'copied' the target is
 * no backup — only that all are before. A failed fsync fails the backup (I8).
 */
class PendingSyncs {
  private readonly pending: Promise<void>[] = [];

  /** Syncs `h` and then closes it. */
  add(h: FileHandle): void {
    this.pending.push(h.syncAsync().finally(() => h.close()));
  }

  /** Waits for every sync; throws the first failure. */
  async done(): Promise<void> {
    const results = await Promise.allSettled(this.pending.splice(0));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }
}

/**
 * Copies a whole file (a log file, DB_CONFIG): chunked, hashed, fsynced (with `syncs`: started
 * there, awaited later). The chunks are read LAST FIRST, for the reason log files are copied
 * newest first: the log is written in order, so what the writer appends while we copy can only
 * complete what a read of a later chunk already saw. First chunk first could read a chunk before
 * the writer reached its end and the next one after: zeros between records in the copy, which
 * recovery rightly refuses as corruption.
 */
async function copyPlain(vfs: Vfs, from: string, to: string, check?: (head: Buffer) => Promise<void>, syncs?: PendingSyncs, onBytes?: (bytes: number) => void): Promise<{ sha256: string; size: number }> {
  const h = vfs.open(from, { readOnly: true });
  try {
    if (check) {
      const head = Buffer.alloc(LOG_HEADER_SIZE);
      h.read(head, 0);
      await check(head);
    }
    const out = vfs.open(to, { create: true });
    const CHUNK = 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    let handed = false;
    const step = stepper(out);
    try {
      out.truncate(0);
      const length = h.size();
      for (let at = Math.floor(Math.max(0, length - 1) / CHUNK) * CHUNK; at >= 0; at -= CHUNK) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(0, length - at)));
        const n = h.read(buf, at);
        const chunk = buf.subarray(0, n);
        // An all-zero chunk (the preallocated tail of a log file) is not written: the copy is
        // extended to its size below, and reads as the same zeros (sparse) — less writeback to
        // compete with the source's commits, for the same bytes and hash.
        const zero = isZeroPage(chunk);
        if (n > 0 && !zero) out.write(chunk, at);
        chunks.unshift(chunk);
        size = Math.max(size, at + n);
        onBytes?.(n);
        if (at > 0) await step(zero ? 0 : n);
      }
      if (out.size() < size) out.truncate(size);
      // fdatasync without blocking the event loop: the source's writers keep committing.
      if (syncs !== undefined) {
        syncs.add(out);
        handed = true;
      } else await out.syncAsync();
    } finally {
      if (!handed) out.close();
    }
    const hash = createHash('sha256');
    for (const c of chunks) hash.update(c);
    return { sha256: hash.digest('hex'), size };
  } finally {
    h.close();
  }
}

/**
 * Reads page `n` of a data file again until it passes its check (it may have been caught
 * mid-write), into `single`: the page, or undefined when the file ends before it (shrank, or
 * still being extended). After PAGE_READS failed reads it is damage: CorruptionError.
 */
async function readPageAgain(h: FileHandle, src: DataFileInfo, single: Buffer, n: number, firstWhy: string): Promise<{ page: Buffer | undefined; reads: number }> {
  const ps = src.pageSize;
  let why = firstWhy;
  for (let attempt = 1; attempt <= PAGE_READS; attempt++) {
    await sleep(Math.min(25, attempt));
    const got = h.read(single, n * ps);
    if (got < ps) return { page: undefined, reads: attempt }; // shrank or still being extended: treated as the end
    const p = pageProblem(single, n, src.uid);
    if (p === undefined) return { page: single, reads: attempt };
    why = p;
  }
  throw new CorruptionError(src.path, n * ps, `page ${n}: ${why}, on ${PAGE_READS} reads in a row (not a page caught mid-write): the source data file is damaged; check it with db_verify, and recover the source from a backup if it is`);
}

/**
 * Copies a data file page by page, verifying every page (checksum, own page number, own file id:
 * I6). A page that fails is read again (a checkpoint may be writing it right now); one that still
 * fails after PAGE_READS reads is damage in the source, reported with file and offset.
 */
async function copyDataFile(vfs: Vfs, src: DataFileInfo, to: string, say: (m: string) => void, syncs: PendingSyncs, onBytes: (bytes: number) => void): Promise<{ sha256: string; size: number; pages: number; reread: number }> {
  const ps = src.pageSize;
  const h = vfs.open(src.path, { readOnly: true });
  const out = vfs.open(to, { create: true });
  const hash = createHash('sha256');
  let reread = 0;
  let pgno = 0;
  let handed = false;
  const step = stepper(out);
  try {
    out.truncate(0);
    const chunk = Buffer.allocUnsafe(Math.max(1, Math.floor((256 * 1024) / ps)) * ps);
    const single = Buffer.allocUnsafe(ps);
    const readAgain = async (n: number, why: string): Promise<Buffer | undefined> => {
      const r = await readPageAgain(h, src, single, n, why);
      reread += r.reads;
      return r.page;
    };
    for (;;) {
      const got = h.read(chunk, pgno * ps);
      const whole = Math.floor(got / ps);
      // Verified pages are written (and hashed) in runs: one write per run of sound pages
      // instead of one per page.
      let run = 0;
      const flushRun = (upTo: number) => {
        if (upTo > run) {
          const bytes = chunk.subarray(run * ps, upTo * ps);
          out.write(bytes, (pgno + run) * ps);
          hash.update(bytes);
        }
      };
      for (let i = 0; i < whole; i++) {
        const n = pgno + i;
        const why = pageProblem(chunk.subarray(i * ps, (i + 1) * ps), n, src.uid);
        if (why !== undefined) {
          flushRun(i);
          run = i + 1;
          const again = await readAgain(n, why);
          if (again === undefined) {
            say(`${src.path}: page ${n} is being added right now; the copy ends before it (the log rebuilds it)`);
            return await finish(n);
          }
          out.write(again, n * ps);
          hash.update(again);
        }
      }
      flushRun(whole);
      pgno += whole;
      onBytes(whole * ps);
      if (got < chunk.length) {
        if (got % ps !== 0) {
          // A page being appended: read it again once it is whole, or end the copy before it.
          const again = await readAgain(pgno, 'page cut short');
          if (again !== undefined) {
            out.write(again, pgno * ps);
            hash.update(again);
            pgno++;
          }
        }
        break;
      }
      await step(got);
    }
    return await finish(pgno);
  } finally {
    h.close();
    if (!handed) out.close();
  }
  async function finish(pages: number) {
    out.truncate(pages * ps);
    syncs.add(out);
    handed = true;
    return { sha256: hash.digest('hex'), size: pages * ps, pages, reread };
  }
}

/** Checks a log file's header before copying it: its own number, our environment. A file just being created may not have its header yet: wait for it. */
function logHeaderCheck(vfs: Vfs, file: string, fileNo: number, envId: Buffer): (head: Buffer) => Promise<void> {
  return async (head: Buffer) => {
    let h = decodeLogHeader(head);
    for (let i = 0; h === undefined && i < LOG_HEADER_READS; i++) {
      await sleep(Math.min(25, i + 1));
      const fh = vfs.open(file, { readOnly: true });
      try {
        fh.read(head, 0);
      } finally {
        fh.close();
      }
      h = decodeLogHeader(head);
    }
    if (h === undefined) throw new CorruptionError(file, 0, 'log file header is damaged; the source log is corrupt: check it with db_printlog');
    if (h.fileNo !== fileNo) throw new CorruptionError(file, 12, `log header says file ${h.fileNo}; the file was renamed or copied over`);
    if (!h.envId.equals(envId)) throw new CorruptionError(file, 20, `log file belongs to another environment (id ${h.envId.toString('hex')}, expected ${envId.toString('hex')})`);
  };
}

/** Moves a log file into the backup (rename; across file systems copy, fsync, then unlink). */
async function moveLogFile(vfs: Vfs, from: string, to: string, fileNo: number, envId: Buffer): Promise<{ sha256: string; size: number }> {
  const head = Buffer.alloc(LOG_HEADER_SIZE);
  const fh = vfs.open(from, { readOnly: true });
  try {
    fh.read(head, 0);
  } finally {
    fh.close();
  }
  await logHeaderCheck(vfs, from, fileNo, envId)(head);
  try {
    vfs.rename(from, to);
  } catch (e) {
    if (!(e instanceof IoError && e.errno === 'EXDEV')) throw e;
    const r = await copyPlain(vfs, from, to);
    vfs.syncDir(path.dirname(to));
    vfs.unlink(from);
    return r;
  }
  return hashFile(vfs, to);
}

function regularFiles(vfs: Vfs, dir: string): string[] {
  if (!vfs.stat(dir)?.isDirectory) return [];
  return vfs.readdir(dir).filter((n) => vfs.stat(path.join(dir, n))?.isDirectory === false);
}

/** What a directory is (Vfs.identity: device and inode), or its resolved path on a Vfs without identities. */
function identityOf(vfs: Vfs, p: string): string | undefined {
  try {
    if (vfs.identity !== undefined) return vfs.identity(p);
    return vfs.stat(p) === undefined ? undefined : path.resolve(p);
  } catch {
    return undefined; // cannot be looked at (EACCES): not a directory this backup can touch either
  }
}

/**
 * The identities of `p` — or, when it does not exist yet, of the nearest existing directory it
 * would be made in — and of every directory above it, as the kernel sees them: `..` of what the
 * path leads to, not of its spelling, so that a symlinked or bind-mounted parent is seen through.
 */
function physicalAncestors(vfs: Vfs, p: string): string[] {
  let at = path.resolve(p);
  while (vfs.stat(at)?.isDirectory !== true) {
    const up = path.dirname(at);
    if (up === at) return [];
    at = up;
  }
  const out: string[] = [];
  for (let depth = 0; depth < 1024; depth++) {
    const id = identityOf(vfs, at);
    if (id === undefined || out.includes(id)) break; // the root: its `..` is itself
    out.push(id);
    at = vfs.identity !== undefined ? `${at}${at.endsWith('/') ? '' : '/'}..` : path.dirname(at);
  }
  return out;
}

/**
 * Refuses a backup target that is, is inside, or contains a directory of the environment (its
 * home, log directory, data directories) — however it is spelled: directories are compared by
 * identity (device and inode), never by path, so a symlink, a symlinked parent, a bind mount, a
 * relative path or `..` cannot make the environment's own files look like a backup to replace.
 */
function checkNotTheEnvironment(vfs: Vfs, src: Dirs, targets: Iterable<string>): void {
  const own = new Map<string, string>();
  for (const d of [src.home, src.logDir, ...dataDirsOf(src)]) {
    const id = identityOf(vfs, d);
    if (id !== undefined && !own.has(id)) own.set(id, d);
  }
  const what = (d: string) => `its ${d === src.home ? 'home' : d === src.logDir ? 'log directory' : 'data directory'} ${d}`;
  const alias = (t: string, d: string) => (path.resolve(t) === path.resolve(d) ? '' : ', the same directory under another path: a symlink, a bind mount or ..');
  for (const t of new Set(targets)) {
    const chain = physicalAncestors(vfs, t);
    for (let i = 0; i < chain.length; i++) {
      const d = own.get(chain[i]!);
      if (d === undefined) continue;
      const inside = !(i === 0 && vfs.stat(t)?.isDirectory === true);
      throw new CairnError('INVALID_ARGUMENT', `the backup directory ${t} is ${inside ? 'inside ' : ''}a directory of the environment itself (${what(d)}${inside ? '' : alias(t, d)}); choose a directory outside the environment`);
    }
    const id = identityOf(vfs, t);
    if (id === undefined) continue;
    for (const d of new Set(own.values())) {
      if (physicalAncestors(vfs, d).includes(id)) {
        throw new CairnError('INVALID_ARGUMENT', `the backup directory ${t} contains a directory of the environment (${what(d)}); choose a directory outside the environment`);
      }
    }
  }
}

/**
 * Why a backup directory that holds a backup of this environment must not be replaced or
 * updated, or undefined. The state the last backup run (or db_recover -c) leaves is a control
 * file that says 'closed', still marked to fork (catastrophic recovery sets it; the first
 * read-write open clears it as the copy becomes a primary), with the log end the manifest
 * recorded. Anything else means the copy was opened (failed over to), or a recovery of it was
 * started and did not finish: it may hold the only copy of commits made since.
 */
function ownHistory(prev: Manifest, control: Control | undefined): string | undefined {
  if (control === undefined) return undefined;
  if (control.state === 'open') return `state open`;
  if (control.fork !== true) return `state ${control.state}; its first read-write open forked its log`;
  if (prev.state !== 'recovered') return undefined;
  if (control.state !== 'closed') return `state ${control.state}: a recovery of it did not finish`;
  if (prev.end !== undefined && control.end !== prev.end) return `its log ends at ${formatLsn(control.end)}, the backup's at ${prev.endLsn}; state ${control.state}`;
  return undefined;
}

/**
 * Everything that can be checked about a backup target without changing anything (the CLI runs
 * it before it opens the source, so that a refused backup leaves the source untouched too): not
 * a directory of the source (by identity), a -D layout that can be recreated, no live owner in
 * the target, and contents that are empty or an earlier backup of this environment (a backup
 * manifest; for -u: a backup to update) that nobody opened since. Returns the target's manifest, if any.
 */
export function checkBackupTarget(vfs: Vfs, src: Dirs, envId: Buffer, dir: string, opts: { update?: boolean; layout?: 'flat' | 'config' }): Manifest | undefined {
  const target = path.resolve(dir);
  const envHex = envId.toString('hex');
  const layout = opts.layout ?? 'flat';
  const tdirs = targetLayout(vfs, src, target, layout);
  checkNotTheEnvironment(vfs, src, [target, tdirs.logDir, ...tdirs.dataMap.values()]);
  if (!vfs.stat(target)?.isDirectory) {
    if (opts.update) throw new CairnError('INVALID_ARGUMENT', `${target} holds no backup of this environment to update (it does not exist); run db_hotbackup without -u first`);
    return undefined;
  }
  const owner = readOwner(vfs, target);
  if (owner?.alive) throw new CairnError('LOCKED', `the backup directory ${target} is open as an environment by process ${owner.pid} (a failover copy in use?); refusing to overwrite it`);
  const prev = readManifest(vfs, target);
  let control: Control | undefined;
  try {
    control = readControl(vfs, target);
  } catch {
    control = undefined;
  }
  // Only a directory with a backup manifest of this environment is an earlier backup: a copy
  // of the environment (a control file with its id, no manifest) is an environment, not a backup.
  const holdsOurs = prev?.envId === envHex;
  const entries = vfs.readdir(target).filter((n) => n !== BACKUP_LOCK_FILE);
  if (opts.update) {
    if (prev === undefined || prev.envId !== envHex) {
      throw new CairnError('INVALID_ARGUMENT', `${target} holds no backup of this environment to update (${prev === undefined ? `no ${MANIFEST_FILE}` : `its manifest is for environment ${prev.envId}`}); run db_hotbackup without -u first`);
    }
    if (prev.layout !== layout) throw new CairnError('INVALID_ARGUMENT', `the backup in ${target} was taken ${prev.layout === 'config' ? 'with' : 'without'} -D; update it the same way`);
    if (prev.kind === 'full' && prev.state === 'copying') throw new CairnError('INVALID_ARGUMENT', `the full backup into ${target} never finished copying; take a full backup again (db_hotbackup without -u)`);
  } else if (entries.length > 0 && !holdsOurs) {
    const whose = prev !== undefined ? `a backup of another environment (${prev.envId})` : control?.envId === envHex ? `a copy of this environment (${CONTROL_FILE}, no ${MANIFEST_FILE}), not a backup` : control !== undefined ? `an environment with another id (${control.envId})` : 'no backup of this environment';
    throw new CairnError('INVALID_ARGUMENT', `the backup directory ${target} is not empty and holds ${whose}; choose an empty or new directory (cairn deletes only files of an earlier backup of the same environment, one with a ${MANIFEST_FILE})`);
  }
  if (prev !== undefined && holdsOurs) {
    // Opened read-write since (failed over to?): its log has its own history now; replacing it
    // would lose that, and copying the source's logs over it would mix two histories. (An
    // unreadable control file is not a history of its own: the copy cannot be opened anyway.)
    const why = ownHistory(prev, control);
    if (why !== undefined) {
      throw new CairnError(
        'INVALID_ARGUMENT',
        `${target} was opened as an environment since its last backup (${why}): it has a history of its own now, and ${opts.update ? 'updating it would mix two histories' : 'replacing it would lose the commits made there'}; take a full backup into an empty directory instead (db_hotbackup -b <empty directory>)`,
      );
    }
  }
  return prev;
}

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
async function copyLogFiles(run: Run, meter: Meter, numbers: number[], skip?: () => boolean): Promise<void> {
  const { vfs, src, tdirs, files, rel } = run;
  for (const n of [...numbers].reverse()) {
    if (skip?.()) continue;
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
  const { vfs, src, target, tdirs, files, logsCopied, rel, say } = run;
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

      // The planted bug backup-logs-first copies the log here, before the data files (the log loop below then skips it):
      // PLANT(backup-logs-first): for (const n of listLogFiles(vfs, src.logDir).filter((x) => x >= lsnFile(start)).reverse()) { const to = path.join(tdirs.logDir, logFileName(n)); const r = await copyPlain(vfs, path.join(src.logDir, logFileName(n)), to); files.push({ path: rel(to), kind: 'log', size: r.size, sha256: r.sha256, how: 'copied' }); logsCopied.push(rel(to)); }
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
  const copyLogs = (numbers: number[], skip?: () => boolean) => copyLogFiles(run, meter, numbers, skip);
  await copyLogs(toCopy); // PLANT(backup-logs-first): await copyLogs(toCopy, () => true);
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
