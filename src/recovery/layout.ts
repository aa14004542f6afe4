// Where an environment's files are: the one implementation of the directory layout that
// DB_CONFIG describes (bdb-semantics.md §7), used by the engine, recovery, the backup tools and
// the db_* utilities alike, over the Vfs (so it runs on the simulated file system too).
//
// * The home holds the control file, the owner lock and DB_CONFIG.
// * The log files are in set_lg_dir, else the home.
// * Data files are looked for in the data directories (set_data_dir / add_data_dir, in order),
//   else the home. A name resolves to the first of them that holds it; a new file goes to the
//   create directory (set_create_dir, else the first data directory, else the home).
// * Relative directories are relative to the home; absolute ones are taken as given.
// * A data file is any file in those directories whose name the environment does not use for
//   something else (its own `__cairn*` files, DB_CONFIG, log files, `.tmp` files being written).
//
// A wrong layout makes recovery look for logs and data files in the wrong place (I7), so every
// reader of DB_CONFIG goes through here: nothing else parses its directory directives.

import { fileNameProblem } from './names.js';
import { invalid } from '../util/errors.js';
import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { parseLogFileName } from '../log/file.js';
import { parseDbConfig, type ParsedDbConfig } from './config.js';

/** The directories of an environment, absolute. */
export interface Dirs {
  home: string;
  logDir: string;
  /** The configured data directories in DB_CONFIG order; empty: the home is the only one. */
  dataDirs: string[];
  createDir: string;
}

/** The directories and the DB_CONFIG they came from (undefined: there is none). */
export interface Layout extends Dirs {
  config: ParsedDbConfig | undefined;
}

/** The home's DB_CONFIG, parsed; undefined when there is none. A malformed one is a CairnError('CONFIG') naming the line. */
export function loadConfig(vfs: Vfs, home: string): ParsedDbConfig | undefined {
  const p = path.join(home, 'DB_CONFIG');
  if (vfs.stat(p) === undefined) return undefined;
  return parseDbConfig(vfs.readFile(p).toString('utf8'), p);
}

/** The directories `cfg` gives the environment at `home` (absolute), relative ones resolved against the home. */
export function layout(home: string, cfg: ParsedDbConfig | undefined): Layout {
  const dataDirs = (cfg?.dataDirs ?? []).map((d) => path.resolve(home, d));
  const createDir = cfg?.createDir !== undefined ? path.resolve(home, cfg.createDir) : (dataDirs[0] ?? home);
  return { home, logDir: cfg?.logDir !== undefined ? path.resolve(home, cfg.logDir) : home, dataDirs, createDir, config: cfg };
}

/** The layout of the environment at `home` (made absolute), from its DB_CONFIG, as Environment.open resolves it. */
export function readLayout(vfs: Vfs, home: string): Layout {
  home = path.resolve(home);
  return layout(home, loadConfig(vfs, home));
}

/** Where data files are looked for: the data directories, or the home when there are none. */
export function dataDirsOf(dirs: Dirs): string[] {
  return dirs.dataDirs.length > 0 ? dirs.dataDirs : [dirs.home];
}

/**
 * Where a data file of this name is (the first data directory holding it), or would be created.
 * An absolute name is taken as given. The name is not checked: callers that take names from
 * users check them first (names.ts fileNameProblem; the engine calls checkedDataFile), so no name
 * leads out of the directories.
 */
export function resolveDataFile(vfs: Vfs, dirs: Dirs, name: string): string {
  if (path.isAbsolute(name)) return name;
  for (const d of dataDirsOf(dirs)) {
    const p = path.join(d, name);
    if (vfs.stat(p) !== undefined) return p;
  }
  return path.join(dirs.createDir, name);
}

/**
 * resolveDataFile for the engine: the name is checked again (fileNameProblem: INVALID_ARGUMENT),
 * so that no caller, and no name taken from a log record, reaches a path out of the data
 * directories (F5).
 */
export function checkedDataFile(vfs: Vfs, dirs: Dirs, name: string): string {
  const why = fileNameProblem(name);
  if (why !== undefined) throw invalid(why);
  return resolveDataFile(vfs, dirs, name);
}

/** A name the environment does not use for anything but a data file. */
export function isDataFileName(name: string): boolean {
  return !name.startsWith('__cairn') && name !== 'DB_CONFIG' && parseLogFileName(name) === undefined && !name.endsWith('.tmp');
}

/**
 * The data files in the data directories: name → path, in directory order then readdir order.
 * A name found in several directories is the first one's (a directory of that name does not
 * count). A missing data directory is an IoError, unless `skipMissingDirs` (tools reading a
 * copy, which report what is there).
 */
export function dataFiles(vfs: Vfs, dirs: Dirs, options: { skipMissingDirs?: boolean } = {}): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of dataDirsOf(dirs)) {
    if (options.skipMissingDirs === true && !vfs.stat(d)?.isDirectory) continue;
    for (const n of vfs.readdir(d)) {
      const p = path.join(d, n);
      if (isDataFileName(n) && !out.has(n) && vfs.stat(p)?.isDirectory === false) out.set(n, p);
    }
  }
  return out;
}
