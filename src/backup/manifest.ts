// The backup manifest `__cairn.backup.json` and the backup lock `__cairn.backup.lock` in a
// backup directory (docs/BACKUP.md §Manifest).
//
// The manifest says what a backup run copied (files, sizes, sha256), from which environment
// (envId), and which log it needs: `required` is the LSN from which catastrophic recovery of
// the directory needs every log file. While a backup is being copied that is the source's redo
// point at the start (the data files hold every change before it: I4); after a recovery it is
// where the log the recovery applied ended (before any incomplete transaction at the end).
// checkBackupLogs() refuses a recovery whose first log file is later than that (I7: "a backup
// whose first log is later than its recorded start").
//
// The lock keeps two db_hotbackup runs off one target: created exclusively, it holds the pid;
// a lock whose process is gone (kill -9) is stale and taken over.

import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { writeFileAtomic } from '../io/atomic.js';
import { processIsAlive } from '../env/lock.js';
import { readBootId } from '../io/node.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { LOG_HEADER_SIZE } from '../log/file.js';
import { CairnError, IoError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, makeLsn, parseLsn } from '../util/lsn.js';
import { type Dirs, listDataFiles, readLayout } from './layout.js';
import { MANIFEST_FILE, type Manifest, checkManifestLogs, readManifest } from '../recovery/manifest.js';

export { MANIFEST_FILE, MANIFEST_FORMAT, type Manifest, type ManifestFile, type ManifestRun, readManifest } from '../recovery/manifest.js';
export const BACKUP_LOCK_FILE = '__cairn.backup.lock';

const KEY_ORDER: Array<keyof Manifest> = ['format', 'envId', 'source', 'layout', 'kind', 'state', 'start', 'startLsn', 'end', 'endLsn', 'required', 'requiredLsn', 'startedAt', 'finishedAt', 'files', 'dataFiles', 'recovery', 'removedLogs', 'history'];

/** The manifest with its keys in a fixed, readable order. */
function canonical(m: Manifest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of KEY_ORDER) if (m[k] !== undefined) out[k] = m[k];
  return out;
}

/** Replaces the manifest atomically and durably (temp file, fsync, rename, fsync directory). */
export function writeManifest(vfs: Vfs, dir: string, m: Manifest): void {
  writeFileAtomic(vfs, path.join(dir, MANIFEST_FILE), Buffer.from(`${JSON.stringify(canonical(m), null, 2)}\n`, 'utf8'));
}

/**
 * I7: refuses (with what to do) when `dir` holds a backup manifest and its first log file is
 * later than the log the manifest says recovery needs (recovery/manifest.ts checkManifestLogs).
 */
export function checkBackupLogs(vfs: Vfs, dir: string): void {
  checkManifestLogs(vfs, dir, () => readLayout(vfs, dir).logDir);
}

/**
 * Where a recovery that applied the log in `logDir` leaves off safely: just after the last
 * commit record (an incomplete transaction at the end must be replayed whole next time, so
 * its first record has to stay). Scans back from the newest file until one holds a commit.
 * `from`, a record boundary of that log (a hot backup passes the source's log end when it
 * pinned): the records from there are scanned first, and when they hold a commit the last one is
 * the answer (commits only append) — a few KB instead of whole log files; otherwise the full scan.
 */
export function afterLastCommit(vfs: Vfs, logDir: string, envId: Buffer, from?: Lsn): Lsn {
  const files = listLogFiles(vfs, logDir);
  if (from !== undefined && files.includes(lsnFile(from))) {
    const reader = new LogReader(vfs, logDir, envId);
    let after: Lsn | undefined;
    for (const raw of reader.records(from)) {
      if (reader.decode(raw).type === 'commit') after = raw.next;
    }
    if (after !== undefined) return after;
  }
  for (let i = files.length - 1; i >= 0; i--) {
    const reader = new LogReader(vfs, logDir, envId);
    let after: Lsn | undefined;
    for (const raw of reader.records(makeLsn(files[i]!, LOG_HEADER_SIZE))) {
      if (reader.decode(raw).type === 'commit') after = raw.next;
    }
    if (after !== undefined) return after;
  }
  return makeLsn(files[0] ?? 1, LOG_HEADER_SIZE);
}

/**
 * What a recovered backup needs for its next catastrophic recovery: the log from just after the
 * last commit applied (afterLastCommit), or from an earlier file when a data file's meta page
 * asks for it (needsLog, the redo point of the last checkpoint that wrote it, which can lie in a
 * file before the last commit's): recovery refuses a data file whose needsLog is older than the
 * first log file (I7), so no log from there on may be removed (F4).
 */
export function requiredAfterRecovery(vfs: Vfs, dirs: Dirs, envId: Buffer, from?: Lsn): Lsn {
  let required = afterLastCommit(vfs, dirs.logDir, envId, from);
  for (const f of listDataFiles(vfs, dirs, envId).own) if (f.needsLog > 0 && f.needsLog < required) required = f.needsLog;
  return required;
}

/**
 * After a successful catastrophic recovery run outside db_hotbackup (db_recover -c on a backup
 * directory): the data files now hold the log through the recovery's end, so the manifest's
 * `required` moves to just after the last commit applied (or a data file's needsLog). Does nothing without a manifest.
 */
export function recordRecovery(vfs: Vfs, dir: string, report: { start: string; end: string; transactions: number; lastCommit?: Date; durationMs: number }): void {
  const m = readManifest(vfs, dir);
  if (m === undefined) return;
  const dirs = readLayout(vfs, dir);
  const required = requiredAfterRecovery(vfs, dirs, Buffer.from(m.envId, 'hex'));
  writeManifest(vfs, dir, {
    ...m,
    state: 'recovered',
    end: parseLsn(report.end) ?? m.end,
    endLsn: report.end,
    required,
    requiredLsn: formatLsn(required),
    recovery: { start: report.start, end: report.end, transactions: report.transactions, lastCommit: report.lastCommit?.toISOString(), durationMs: Math.round(report.durationMs) },
  });
}

// ---- the backup lock ---------------------------------------------------------------------------

interface LockRecord {
  pid: number;
  startedAt: string;
  bootId?: string;
  token: string;
}

export interface BackupLock {
  release(): void;
}

function holderAlive(rec: LockRecord): boolean {
  if (rec.pid === process.pid) return true; // another backup in this very process
  const boot = readBootId();
  if (rec.bootId !== undefined && boot !== undefined && rec.bootId !== boot) return false;
  return processIsAlive(rec.pid);
}

/** Who holds the backup lock of `dir`, when it is held by a live process. */
export function backupLockHolder(vfs: Vfs, dir: string): number | undefined {
  const p = path.join(dir, BACKUP_LOCK_FILE);
  try {
    const rec = JSON.parse(vfs.readFile(p).toString('utf8')) as LockRecord;
    return Number.isInteger(rec.pid) && holderAlive(rec) ? rec.pid : undefined;
  } catch {
    return undefined;
  }
}

/** Takes the backup lock of `dir` or throws naming the live holder. */
export function acquireBackupLock(vfs: Vfs, dir: string): BackupLock {
  const p = path.join(dir, BACKUP_LOCK_FILE);
  const rec: LockRecord = { pid: process.pid, startedAt: new Date().toISOString(), bootId: readBootId(), token: randomBytes(8).toString('hex') };
  const text = `${JSON.stringify(rec)}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const h = vfs.open(p, { create: true, exclusive: true });
      try {
        h.write(Buffer.from(text), 0);
      } finally {
        h.close();
      }
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          try {
            if (vfs.readFile(p).toString('utf8') === text) vfs.unlink(p);
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if (!(e instanceof IoError && e.errno === 'EEXIST')) throw e;
    }
    let held: LockRecord | undefined;
    try {
      held = JSON.parse(vfs.readFile(p).toString('utf8')) as LockRecord;
    } catch {
      held = undefined;
    }
    if (held !== undefined && Number.isInteger(held.pid) && holderAlive(held)) {
      throw new CairnError('LOCKED', `another db_hotbackup (process ${held.pid}) is writing to ${dir}; wait for it to finish, or choose another backup directory`);
    }
    if (held === undefined && Date.now() - (vfs.stat(p)?.mtimeMs ?? 0) < 1000) {
      throw new CairnError('LOCKED', `another db_hotbackup is starting in ${dir}; wait for it to finish, or choose another backup directory`);
    }
    try {
      vfs.unlink(p); // stale: its process is gone
    } catch {
      // someone else removed it first
    }
  }
  throw new CairnError('LOCKED', `${p}: other backups keep racing for this directory; retry`);
}

