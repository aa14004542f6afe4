// Log histories (docs/BACKUP.md §No silent failover loss, docs/FORMAT.md §Log files).
//
// Every log file header names the history it belongs to. A new environment starts a random
// history; a copy that becomes a primary (its first read-write open after catastrophic recovery)
// starts a new one, forked from the old at a new log file. The control file names the history
// the environment continues: a log whose last file is of another history (an old primary's log
// files copied over a failed-over copy) is refused before recovery replays it.

import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { HISTORY_SIZE, type LogFileHeader, decodeLogHeader, knownHistory, logFileName } from '../log/file.js';
import { listLogFiles, recordStartsAt } from '../log/reader.js';
import { CorruptionError } from '../util/errors.js';
import { formatLsn, makeLsn } from '../util/lsn.js';
import type { Control } from './control.js';

export function newHistory(): Buffer {
  return randomBytes(HISTORY_SIZE);
}

/**
 * The header of the last log file whose header is valid, with its number (the last file's own
 * header may be a torn creation: then the one before). undefined when there is none.
 */
export function lastLogHeader(vfs: Vfs, logDir: string): { fileNo: number; header: LogFileHeader } | undefined {
  const files = listLogFiles(vfs, logDir);
  for (let i = files.length - 1; i >= 0 && i >= files.length - 2; i--) {
    const fileNo = files[i]!;
    const header = readHeader(vfs, logDir, fileNo);
    if (header !== undefined) return { fileNo, header };
  }
  return undefined;
}

/**
 * Checks, from the headers alone and before recovery replays anything, that each log file
 * continues the previous file's history or forks from it where that file's records end: an old
 * primary's log file that goes on past the point where a failed-over copy forked (copied over
 * the copy's own) is refused here, before its extra records could reach a data page.
 */
export function checkHistoryChain(vfs: Vfs, logDir: string): void {
  const files = listLogFiles(vfs, logDir);
  let prev: { fileNo: number; history: Buffer } | undefined;
  for (const fileNo of files) {
    const header = readHeader(vfs, logDir, fileNo);
    if (header === undefined || prev === undefined || prev.fileNo !== fileNo - 1) {
      prev = header && { fileNo, history: header.history! };
      continue;
    }
    const here = prev.history;
    const there = header.history!;
    if (knownHistory(here) && knownHistory(there) && !there.equals(here)) {
      const file = path.join(logDir, logFileName(fileNo));
      if (!header.parent!.equals(here)) {
        throw new CorruptionError(file, 40, `log file belongs to history ${there.toString('hex')}, which neither continues history ${here.toString('hex')} of ${logFileName(fileNo - 1)} nor forked from it: log files of two histories (an old primary's and a failed-over copy's) were mixed; put back this environment's own log files`);
      }
      if (recordStartsAt(vfs, logDir, fileNo - 1, header.prevEnd)) {
        throw new CorruptionError(path.join(logDir, logFileName(fileNo - 1)), header.prevEnd, `log records of history ${here.toString('hex')} go on past offset ${header.prevEnd}, where history ${there.toString('hex')} (${logFileName(fileNo)}) forked from it: the old primary's log files were copied over a failed-over copy; put back this environment's own log files (or take a new full backup)`);
      }
    }
    prev = { fileNo, history: there };
  }
}

function readHeader(vfs: Vfs, logDir: string, fileNo: number): LogFileHeader | undefined {
  const h = vfs.open(path.join(logDir, logFileName(fileNo)), { readOnly: true });
  const head = Buffer.alloc(64);
  try {
    h.read(head, 0);
  } finally {
    h.close();
  }
  return decodeLogHeader(head);
}

/**
 * Checks that the log continues the history the control file names; returns the control file
 * to go on with. With a fork pending (catastrophic recovery, then a read-write open that stopped
 * after making the first file of its new history), a last file forked from the named history is
 * that new history: it is adopted. Throws CorruptionError (offset 40, the header's history) for
 * a log of another history (a zero one included). A control file without a history (an older
 * environment, or one rebuilt from such logs) is not checked.
 */
export function checkHistory(vfs: Vfs, logDir: string, control: Control): Control {
  if (control.history === undefined) return control;
  const last = lastLogHeader(vfs, logDir);
  if (last === undefined) return control;
  const mine = Buffer.from(control.history, 'hex');
  const { fileNo, header } = last;
  const theirs = header.history!;
  if (theirs.equals(mine)) return control;
  if (control.fork === true && knownHistory(theirs) && header.parent!.equals(mine)) {
    return { ...control, history: theirs.toString('hex'), forkedAt: makeLsn(fileNo - 1, header.prevEnd), fork: undefined };
  }
  const since = control.forkedAt !== undefined ? ` since its failover at ${formatLsn(control.forkedAt)}` : '';
  const whose = control.forkedAt !== undefined ? "the old primary's logs were copied over it" : 'log files of another copy of this environment (one that failed over) were copied over it';
  throw new CorruptionError(
    path.join(logDir, logFileName(fileNo)),
    40,
    `log file ${logFileName(fileNo)} belongs to history ${knownHistory(theirs) ? theirs.toString('hex') : 'unknown (zero)'}, but this environment continues history ${control.history}${since}: ${whose}; put back this environment's own log files (or take a new full backup)`,
  );
}
