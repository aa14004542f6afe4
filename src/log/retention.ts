// Log retention (docs/DESIGN.md I5, README §Log retention). By default every checkpoint removes
// the log files that normal recovery no longer needs and no backup or channel client has pinned,
// so an application that never runs a tool keeps a bounded log. Failover copies made by hand
// (docs/BACKUP.md §The procedure) and incremental backups need every log file to reach them:
// for those, one DB_CONFIG line (KEEP_LOGS_LINE) keeps them until db_archive moves them.

import type { Vfs } from '../io/vfs.js';
import { logFileName } from './file.js';
import { listLogFiles } from './reader.js';
import { CairnError } from '../util/errors.js';

/** The setting that keeps every log file until an operator moves it (Berkeley DB's default). */
export const KEEP_LOGS_LINE = 'log_set_config DB_LOG_AUTO_REMOVE off';

/** Appended to every refusal caused by a log file the primary may have removed by default. */
export const RETENTION_HINT =
  `if the primary removed it: its checkpoints remove the log files its own recovery no longer needs unless its DB_CONFIG has "${KEEP_LOGS_LINE}"; ` +
  'add that line for failover copies and incremental backups, then start again from step 1 of docs/BACKUP.md';

/** Why a log file is still on disk. */
export type KeptFor =
  /** at or after the redo point's file: normal recovery starts there */
  | 'recovery'
  /** a running backup or a channel client pinned it (I5) */
  | 'pin'
  /** not needed, kept because log removal is off (KEEP_LOGS_LINE): db_archive lists it */
  | 'retention'
  /** not needed; the next checkpoint removes it */
  | 'removable';

export interface KeptLog {
  file: number;
  name: string;
  keptFor: KeptFor;
}

/** The reason each log file in `files` is kept, given the redo point's file, the pinned files and whether logs are removed. */
export function keptLogs(files: number[], redoFile: number, pins: Iterable<number>, autoRemove: boolean): KeptLog[] {
  let minPin = Infinity;
  for (const f of pins) minPin = Math.min(minPin, f);
  return files.map((file) => ({
    file,
    name: logFileName(file),
    keptFor: file >= redoFile ? 'recovery' : file >= minPin ? 'pin' : autoRemove ? 'removable' : 'retention',
  }));
}

/**
 * I7, before a catastrophic recovery touches anything: a hole in the log numbering is refused with
 * what to do (the same check the log reader makes, with the retention hint: a hole in a failover
 * copy is what the default removal leaves between two rounds of the procedure).
 */
export function checkLogNumbering(vfs: Vfs, logDir: string): void {
  const files = listLogFiles(vfs, logDir);
  for (let i = 1; i < files.length; i++) {
    const expect = files[i - 1]! + 1;
    if (files[i] !== expect) {
      throw new CairnError(
        'CORRUPT',
        `log file ${logFileName(expect)} is missing in ${logDir} (have ${logFileName(files[i]!)} after it); copy it back from the primary or archive, or restore a complete set of log files (${RETENTION_HINT})`,
      );
    }
  }
}

