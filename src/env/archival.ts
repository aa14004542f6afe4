// Log archival (I5): which log files normal recovery no longer needs and no running backup has
// pinned, their removal (by checkpoints, and by db_archive -d through the owner's channel), and
// the pins.

import { assert } from '../util/assert.js';
import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { logFileName } from '../log/file.js';
import { listLogFiles } from '../log/reader.js';
import { lsnFile } from '../util/lsn.js';
import type { Environment } from './environment.js';

export class Archival {
  /** Log files that must not be removed (pinned by a running backup: I5). */
  readonly pins = new Map<number, number>();

  constructor(private readonly env: Environment) {}

  private get vfs(): Vfs {
    return this.env.vfs;
  }

  private get dirs(): { logDir: string } {
    return this.env.dirs;
  }

  /** Log files normal recovery no longer needs and no backup has pinned (I5), oldest first. */
  removableLogs(): number[] {
    const redoFile = lsnFile(this.env.control.redo);
    let minPin = Infinity;
    for (const f of this.pins.keys()) minPin = Math.min(minPin, f);
    const limit = Math.min(redoFile, minPin);
    // PLANT(archive-needed-log): return listLogFiles(this.vfs, this.dirs.logDir).filter((n) => n <= limit);
    return listLogFiles(this.vfs, this.dirs.logDir).filter((n) => n < limit);
  }

  /** Removes log files (a checkpoint's automatic removal). */
  removeLogs(files: number[]): void {
    for (const n of files) this.vfs.unlink(path.join(this.dirs.logDir, logFileName(n)));
    if (files.length > 0) this.vfs.syncDir(this.dirs.logDir);
  }

  /** @internal Keeps log files from `fromFile` on from being removed until the returned function is called (I5). */
  pinLogs(fromFile: number): () => void {
    this.pins.set(fromFile, (this.pins.get(fromFile) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = this.pins.get(fromFile)! - 1;
      assert(n >= 0, `pin count of log file ${fromFile} below zero`);
      if (n === 0) this.pins.delete(fromFile);
      else this.pins.set(fromFile, n);
    };
  }

  /**
   * db_archive -d through the owner's channel: removes the removable log files (computed and
   * removed in one synchronous step, so no pin can arrive in between) and returns them.
   */
  removeArchivable(): number[] {
    this.env.checkUsable();
    const removable = this.removableLogs();
    removeLogFiles(this.vfs, this.dirs, removable);
    return removable;
  }
}

/** Removes log files (db_archive -d: one already gone is no error), then fsyncs the log directory. */
export function removeLogFiles(vfs: Vfs, dirs: { logDir: string }, files: number[]): void {
  for (const n of files) {
    try {
      vfs.unlink(path.join(dirs.logDir, logFileName(n)));
    } catch (e) {
      if ((e as { errno?: string }).errno !== 'ENOENT') throw e;
    }
  }
  if (files.length > 0) vfs.syncDir(dirs.logDir);
}
