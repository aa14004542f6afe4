// db_archive's listings (issue 3): the log files normal recovery no longer needs (and that no
// backup has pinned: I5), all log files, or the data files; and removal of the removable logs.
//
// Names are relative to the environment HOME (Berkeley DB prints them relative to the log or
// data directory that holds them, which breaks scripts once DB_CONFIG moves the logs), or
// absolute with `absolute`. Lists are sorted; log files oldest first.
//
// Two entry points: archive(env, …) inside the owning process (env.archive() and the channel's
// `archive` op), and archiveFromDisk(…) for a utility when no process owns the environment: it
// reads the control file and never writes anything unless asked to remove logs, and then holds
// the owner lock while it does, so no owner can start meanwhile.

import * as path from 'node:path';
import type { ArchiveOptions, Environment } from '../env/environment.js';
import type { Vfs } from '../io/vfs.js';
import { readControl } from '../env/control.js';
import { removeLogFiles } from '../env/archival.js';
import { acquireOwnerLock } from '../env/lock.js';
import { listLogFiles } from '../log/reader.js';
import { logFileName } from '../log/file.js';
import { CairnError, RunRecoveryError, invalid } from '../util/errors.js';
import { lsnFile } from '../util/lsn.js';
import { type Dirs, displayPath, listDataFiles, readEnvId, readLayout } from './layout.js';

/** Throws for combinations that make no sense (as Berkeley DB's log_archive flags). */
export function checkArchiveOptions(opts: ArchiveOptions): void {
  if (opts.logs && opts.data) throw invalid('archive: logs (-l) and data (-s) cannot be combined; ask for one list at a time');
  if (opts.remove && (opts.logs || opts.data)) throw invalid('archive: remove (-d) removes the inactive log files only; it cannot be combined with logs (-l) or data (-s)');
}

function names(dirs: Dirs, files: number[], absolute: boolean): string[] {
  return files.map((n) => displayPath(dirs, path.join(dirs.logDir, logFileName(n)), absolute));
}

function dataNames(vfs: Vfs, dirs: Dirs, envId: Buffer | undefined, absolute: boolean): string[] {
  return listDataFiles(vfs, dirs, envId)
    .own.map((f) => displayPath(dirs, f.path, absolute))
    .sort();
}

/**
 * In the owning process: the removable logs (default), all logs (`logs`), the data files
 * (`data`); with `remove`, removes the removable logs and returns their names.
 */
export function archive(env: Environment, opts: ArchiveOptions): string[] {
  checkArchiveOptions(opts);
  const dirs = env.dirs;
  const absolute = opts.absolute === true;
  if (opts.data) return dataNames(env.vfs, dirs, env.envId, absolute);
  if (opts.logs) return names(dirs, listLogFiles(env.vfs, dirs.logDir), absolute);
  // removableLogs() honours pins (I5); computing and removing in one synchronous step means no
  // pin can arrive in between.
  const removable = env.removableLogs();
  if (opts.remove) removeLogFiles(env.vfs, dirs, removable);
  return names(dirs, removable, absolute);
}

export interface DiskArchive {
  dirs: Dirs;
  /** The names (removed ones with `remove`). */
  names: string[];
  /** The redo point the removable list is based on (undefined for -l / -s). */
  redo?: number;
}

/**
 * With no live owner: the same lists from the files on disk. Removable logs are those below the
 * control file's redo point (normal recovery starts there, whether or not the last owner closed
 * cleanly). Refuses while a recovery is unfinished.
 */
export function archiveFromDisk(vfs: Vfs, home: string, opts: ArchiveOptions): DiskArchive {
  checkArchiveOptions(opts);
  const dirs = readLayout(vfs, home);
  const absolute = opts.absolute === true;
  if (opts.data) return { dirs, names: dataNames(vfs, dirs, readEnvId(vfs, dirs), absolute) };
  if (opts.logs) return { dirs, names: names(dirs, listLogFiles(vfs, dirs.logDir), absolute) };
  const compute = () => {
    const control = readControl(vfs, dirs.home);
    if (control === undefined) {
      throw new RunRecoveryError(`${dirs.home} has log files but no control file (a copy never recovered): no log file can be called inactive; run db_recover -c -h ${dirs.home} first`);
    }
    if (control.state === 'recovering') {
      throw new RunRecoveryError(`a recovery of ${dirs.home} did not finish, so every log file may still be needed; run db_recover${control.recovery === 'catastrophic' ? ' -c' : ''} -h ${dirs.home} first`);
    }
    const redoFile = lsnFile(control.redo);
    return { redo: control.redo, files: listLogFiles(vfs, dirs.logDir).filter((n) => n < redoFile) };
  };
  if (!opts.remove) {
    const { redo, files } = compute();
    return { dirs, names: names(dirs, files, absolute), redo };
  }
  // Removing: be the owner meanwhile, so that no process opens the environment (and starts
  // pinning or needing these files) while they go.
  let lock;
  try {
    lock = acquireOwnerLock(vfs, dirs.home, { pid: process.pid });
  } catch (e) {
    if (e instanceof CairnError && e.code === 'LOCKED') throw new CairnError('LOCKED', `${e.message}; run db_archive -d again: it then works through that process`);
    throw e;
  }
  try {
    const { redo, files } = compute();
    removeLogFiles(vfs, dirs, files);
    return { dirs, names: names(dirs, files, absolute), redo };
  } finally {
    lock.release();
  }
}
