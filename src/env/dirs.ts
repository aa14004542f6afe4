// The directories of an environment (DB_CONFIG's set_data_dir, set_create_dir, set_lg_dir) and
// where its data files are (docs/DESIGN.md §Layers).

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { parseLogFileName } from '../log/file.js';
import { type ParsedDbConfig, parseDbConfig } from './config.js';
import { fileNameProblem } from '../recovery/names.js';
import { invalid } from '../util/errors.js';

export interface Dirs {
  home: string;
  logDir: string;
  dataDirs: string[];
  createDir: string;
}

export function loadConfig(vfs: Vfs, home: string): ParsedDbConfig | undefined {
  const p = path.join(home, 'DB_CONFIG');
  if (vfs.stat(p) === undefined) return undefined;
  return parseDbConfig(vfs.readFile(p).toString('utf8'), p);
}

export function layout(home: string, cfg: ParsedDbConfig | undefined): Dirs {
  const dataDirs = (cfg?.dataDirs ?? []).map((d) => path.resolve(home, d));
  const createDir = cfg?.createDir !== undefined ? path.resolve(home, cfg.createDir) : (dataDirs[0] ?? home);
  return { home, logDir: cfg?.logDir !== undefined ? path.resolve(home, cfg.logDir) : home, dataDirs, createDir };
}

/** Where a data file of this name is (the first data directory holding it), or would be created. */
export function resolveDataFile(vfs: Vfs, dirs: Dirs, name: string): string {
  const why = fileNameProblem(name); // callers check first; never a path out of the data directories
  if (why !== undefined) throw invalid(why);
  for (const d of dirs.dataDirs.length > 0 ? dirs.dataDirs : [dirs.home]) {
    const p = path.join(d, name);
    if (vfs.stat(p) !== undefined) return p;
  }
  return path.join(dirs.createDir, name);
}

export function isDataFileName(name: string): boolean {
  return !name.startsWith('__cairn') && name !== 'DB_CONFIG' && parseLogFileName(name) === undefined && !name.endsWith('.tmp');
}

/** The data files in the data directories by name (the first directory holding a name wins). */
export function listDataFiles(vfs: Vfs, dirs: Dirs): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of dirs.dataDirs.length > 0 ? dirs.dataDirs : [dirs.home]) {
    for (const n of vfs.readdir(d)) {
      const p = path.join(d, n);
      if (isDataFileName(n) && !out.has(n) && vfs.stat(p)?.isDirectory === false) out.set(n, p);
    }
  }
  return out;
}
