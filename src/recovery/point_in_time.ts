// Recovery to a point in time (Environment.recover's `until`): where to stop, and the later
// log kept aside (docs/DESIGN.md §Recovery).

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { logFileName } from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { formatRecoverTime } from '../log/records.js';
import { INTERNAL_TXN } from '../txn/txn.js';
import { CairnError } from '../util/errors.js';
import { type Lsn, lsnFile, lsnOffset } from '../util/lsn.js';

/** The LSN of the first record of the first transaction that committed after `time`. */
export function findStopPoint(vfs: Vfs, logDir: string, envId: Buffer, time: number): Lsn | undefined {
  const reader = new LogReader(vfs, logDir, envId);
  let txnStart: Lsn | undefined;
  let txn = -1;
  let seenCommit = false;
  for (const raw of reader.records()) {
    const rec = reader.decode(raw);
    if (rec.type === 'checkpoint') continue;
    if (rec.type === 'commit' && rec.txn === INTERNAL_TXN) {
      // A checkpoint's own transaction is no commit to stop at.
      txn = -1;
      txnStart = undefined;
    } else if (rec.type === 'commit') {
      if (rec.time > time) {
        if (!seenCommit) {
          throw new CairnError('INVALID_ARGUMENT', `recovery time ${formatRecoverTime(time)} is before the earliest commit in the log (${formatRecoverTime(rec.time)}); choose a later time`);
        }
        return rec.txn === txn && txnStart !== undefined ? txnStart : raw.lsn;
      }
      seenCommit = true;
      txn = -1;
      txnStart = undefined;
    } else if (rec.txn !== txn) {
      txn = rec.txn;
      txnStart = raw.lsn;
    }
  }
  return undefined;
}

/**
 * Recovery to a time keeps the later history: log files after the stop point are moved, and
 * the file holding it copied, into __cairn.after-<time>/ in the log directory; then the log
 * is cut at the stop point so nothing later is replayed by accident.
 */
export function keepLaterLog(vfs: Vfs, dirs: { logDir: string }, stop: Lsn): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const keep = path.join(dirs.logDir, `__cairn.after-${stamp}`);
  vfs.mkdir(keep, { recursive: true });
  const stopFile = lsnFile(stop);
  for (const n of listLogFiles(vfs, dirs.logDir)) {
    if (n < stopFile) continue;
    const from = path.join(dirs.logDir, logFileName(n));
    const to = path.join(keep, logFileName(n));
    if (n === stopFile) {
      const data = vfs.readFile(from);
      const h = vfs.open(to, { create: true });
      h.write(data, 0);
      h.sync();
      h.close();
      const lh = vfs.open(from);
      const zeros = Buffer.alloc(data.length - lsnOffset(stop));
      lh.write(zeros, lsnOffset(stop));
      lh.sync();
      lh.close();
    } else vfs.rename(from, to);
  }
  vfs.syncDir(keep);
  vfs.syncDir(dirs.logDir);
  return keep;
}

