// For recovery tests: the recovery context of a flat environment on the simulated file system
// (data files and logs in one directory), as Environment.recover builds it.

import * as path from 'node:path';
import type { SimVfs } from '../io/sim.js';
import { readControl } from '../env/control.js';
import type { RecoveryContext } from '../recovery/redo.js';
import { Pager } from '../page/pager.js';
import { isDataFileName } from '../backup/layout.js';

export function flatContext(vfs: SimVfs, home: string): RecoveryContext {
  return {
    vfs,
    pager: new Pager(vfs, { cacheSize: 16 * 1024 * 1024 }),
    logDir: home,
    envId: Buffer.from(readControl(vfs, home)!.envId, 'hex'),
    resolve: (name) => path.join(home, name),
    listDataFiles: () => new Map(vfs.readdir(home).filter((n) => isDataFileName(n) && !vfs.stat(path.join(home, n))!.isDirectory).map((n) => [n, path.join(home, n)])),
  };
}
