// An environment's files as the tools find them on disk without opening it: is there an
// environment, and its control file. (Where the files are is src/recovery/layout.ts.)

import * as path from 'node:path';
import { CONTROL_FILE, readControl, type Control } from '../env/control.js';
import { nodeVfs } from '../io/node.js';
import { listLogFiles } from '../log/reader.js';

function exists(p: string, dir = false): boolean {
  try {
    const st = nodeVfs.stat(p);
    return st !== undefined && (!dir || st.isDirectory);
  } catch {
    return false;
  }
}

/** A cairn environment lives here: a control file, or log files. */
export function looksLikeEnvironment(dir: string): boolean {
  if (!exists(dir, true)) return false;
  if (exists(path.join(dir, CONTROL_FILE))) return true;
  return listLogFiles(nodeVfs, dir).length > 0;
}

/** The control file, or undefined when there is none; a damaged one is a CairnError (CORRUPT). */
export function controlOf(home: string): Control | undefined {
  return readControl(nodeVfs, home);
}
