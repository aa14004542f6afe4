// An environment's files as the backup tools see them, read from disk without opening the
// environment: the directory layout (DB_CONFIG), the log files, the data files and their
// identity (I7: a data file of another environment is never taken for ours).

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { type Dirs, dataFiles } from '../recovery/layout.js';
import { CONTROL_FILE, readControl } from '../env/control.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { logFileName } from '../log/file.js';
import { readMeta } from '../page/meta.js';
import { CorruptionError } from '../util/errors.js';

// The directory layout itself is src/recovery/layout.ts; these names are kept for the backup code.
export { type Dirs, dataDirsOf, isDataFileName, loadConfig as readConfig, readLayout } from '../recovery/layout.js';

export interface DataFileInfo {
  name: string;
  path: string;
  pageSize: number;
  uid: number;
  /** The meta page's needsLog: catastrophic recovery of a copy needs the log from here (0: none recorded). */
  needsLog: number;
}

/**
 * The cairn data files in the data directories. With `envId`, files of another environment are
 * returned in `foreign` instead (they must not go into a copy: recovery would refuse them).
 * Files that are not cairn data files (no meta page magic) are in `other`.
 */
export function listDataFiles(vfs: Vfs, dirs: Dirs, envId?: Buffer): { own: DataFileInfo[]; foreign: string[]; other: string[] } {
  const own: DataFileInfo[] = [];
  const foreign: string[] = [];
  const other: string[] = [];
  for (const [name, p] of dataFiles(vfs, dirs, { skipMissingDirs: true })) {
    let meta;
    try {
      const h = vfs.open(p, { readOnly: true });
      const head = Buffer.alloc(512);
      try {
        h.read(head, 0);
      } finally {
        h.close();
      }
      meta = readMeta(head, p);
    } catch {
      other.push(p);
      continue;
    }
    if (envId !== undefined && !meta.envId.equals(envId)) foreign.push(p);
    else own.push({ name, path: p, pageSize: meta.pageSize, uid: meta.fileUid, needsLog: meta.needsLog });
  }
  return { own, foreign, other };
}

/**
 * The environment id of the environment at `home`: from its control file, or (a copy never
 * recovered) from its first log file's header. Undefined when neither exists.
 */
export function readEnvId(vfs: Vfs, dirs: Dirs): Buffer | undefined {
  if (vfs.stat(path.join(dirs.home, CONTROL_FILE)) !== undefined) {
    return Buffer.from(readControl(vfs, dirs.home)!.envId, 'hex');
  }
  const logs = listLogFiles(vfs, dirs.logDir);
  if (logs.length === 0) return undefined;
  const h = new LogReader(vfs, dirs.logDir).header(logs[0]!);
  if (h === undefined) throw new CorruptionError(path.join(dirs.logDir, logFileName(logs[0]!)), 0, 'log file header is damaged');
  return h.envId;
}

/** `p` as printed by the tools: relative to the home, or absolute. */
export function displayPath(dirs: Dirs, p: string, absolute: boolean): string {
  if (absolute) return path.resolve(p);
  const rel = path.relative(dirs.home, p);
  return rel === '' ? '.' : rel;
}
