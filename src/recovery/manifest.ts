// The read side of a backup's manifest `__cairn.backup.json` (docs/BACKUP.md §Manifest): what
// catastrophic recovery checks before it replays a backup's log (I7: "a backup whose first log
// is later than its recorded start" is refused). The backup layer (backup/manifest.ts) writes
// manifests and re-exports these.

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { listLogFiles } from '../log/reader.js';
import { logFileName } from '../log/file.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { type Lsn, lsnFile } from '../util/lsn.js';

export const MANIFEST_FILE = '__cairn.backup.json';
export const MANIFEST_FORMAT = 'cairn-backup/1';

export interface ManifestFile {
  /** Relative to the backup directory. */
  path: string;
  kind: 'data' | 'log' | 'config' | 'pagemap';
  size: number;
  sha256: string;
  /** Logs: copied from the source, or moved out of it (db_hotbackup -u). */
  how: 'copied' | 'moved';
  /** Data files: pages copied, and pages that had to be read again (caught mid-write). */
  pages?: number;
  reread?: number;
}

export interface ManifestRun {
  kind: 'full' | 'update';
  startedAt: string;
  finishedAt?: string;
  start: string;
  end?: string;
  logsCopied: number;
  logsMoved: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  envId: string;
  /** The source environment's home. */
  source: string;
  /** 'flat': everything in the backup directory; 'config': DB_CONFIG's layout recreated (-D). */
  layout: 'flat' | 'config';
  kind: 'full' | 'update';
  /** copying: files are being copied; copied: complete, not recovered; recovered: ready to open. */
  state: 'copying' | 'copied' | 'recovered';
  /** The source's redo point when this run started (LSN as a number, and printed). */
  start: Lsn;
  startLsn: string;
  /** The end of the log copied. */
  end?: Lsn;
  endLsn?: string;
  /** Catastrophic recovery here needs every log file from this LSN's file. */
  required: Lsn;
  requiredLsn: string;
  startedAt: string;
  finishedAt?: string;
  /** The files this run copied or moved. */
  files: ManifestFile[];
  /** The data files of the last full backup. */
  dataFiles: ManifestFile[];
  recovery?: { start: string; end: string; transactions: number; lastCommit?: string; durationMs: number };
  /** Log files removed after recovery (no longer needed). */
  removedLogs?: string[];
  /** The last runs, oldest first (at most 20). */
  history: ManifestRun[];
}

export function readManifest(vfs: Vfs, dir: string): Manifest | undefined {
  const p = path.join(dir, MANIFEST_FILE);
  if (vfs.stat(p) === undefined) return undefined;
  let m: Manifest;
  try {
    m = JSON.parse(vfs.readFile(p).toString('utf8')) as Manifest;
  } catch (e) {
    throw new CorruptionError(p, 0, `${p} is not a readable backup manifest (${(e as Error).message}); take a new full backup (db_hotbackup without -u)`);
  }
  if (m === null || typeof m !== 'object' || m.format !== MANIFEST_FORMAT) {
    throw new CorruptionError(p, 0, `${p} is not a cairn backup manifest (format ${JSON.stringify((m as { format?: unknown })?.format)}); take a new full backup`);
  }
  return m;
}

/**
 * I7: refuses (with what to do) when `dir` holds a backup manifest and its first log file is
 * later than the log the manifest says recovery needs. Called before every catastrophic
 * recovery (Environment.recover, db_recover -c, db_hotbackup). `logDirOf`: the directory's
 * log directory, asked only when there is a manifest.
 */
export function checkManifestLogs(vfs: Vfs, dir: string, logDirOf: () => string): void {
  const m = readManifest(vfs, dir);
  if (m === undefined) return;
  const logs = listLogFiles(vfs, logDirOf());
  const need = lsnFile(m.required);
  if (logs.length === 0) {
    throw new CairnError('NOT_FOUND', `backup ${dir} has no log files; its manifest says recovery needs every log file from ${logFileName(need)} (LSN ${m.requiredLsn}): copy them from the source or its archive, or take a new full backup`);
  }
  if (logs[0]! > need) {
    const missing = logs[0]! - 1 === need ? logFileName(need) : `${logFileName(need)} … ${logFileName(logs[0]! - 1)}`;
    throw new CairnError(
      'NOT_FOUND',
      `backup ${dir} starts at ${logFileName(logs[0]!)}, later than its recorded start ${m.requiredLsn} (${MANIFEST_FILE}): log files ${missing} are missing, so transactions in them would be lost; copy them from the source or its archive, or take a new full backup`,
    );
  }
}
