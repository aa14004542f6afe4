// Where the db_dump / db_load / db_verify / db_stat / db_printlog tools find things, and when
// they must refuse to look (issue 5).
//
// * The home is -h, else $DB_HOME, else the current directory (cli/common.ts homeOf). When none
//   was given and the current directory is not a cairn environment, a file operand with a
//   directory part (`db_dump env/data.db`) makes its directory the home, so a data file can be
//   named the way a shell user would name it. For db_load (`creating`) that directory is the
//   home even when it holds no environment yet: the new environment goes where the file goes.
// * Data file names resolve as the engine resolves them: absolute as given, otherwise the first
//   data directory (DB_CONFIG add_data_dir / set_data_dir) holding the file, else the create
//   directory (set_create_dir, else the first data directory, else the home).
// * The data files of an environment are consistent on disk only while nobody owns it and its
//   control file says `closed` (cleanly closed or recovered). Tools that read data files
//   directly check both first (`requireQuiescent`).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError, type Options } from './common.js';
import { type Control } from '../env/control.js';
import { readOwner } from '../env/lock.js';
import { nodeVfs } from '../io/node.js';
import { type Layout, readLayout, resolveDataFile as resolveIn } from '../recovery/layout.js';
import { controlOf, looksLikeEnvironment } from '../tools/envfiles.js';

export type { Layout } from '../recovery/layout.js';
export { controlOf, looksLikeEnvironment } from '../tools/envfiles.js';

/**
 * The home for a tool run, and the file operand as it should be given to the engine. With no
 * -h and no $DB_HOME, a file operand with a directory part whose directory is an environment
 * (while the current directory is not) selects that directory as the home.
 */
export function resolveHome(
  opts: Options,
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  options: { creating?: boolean } = {},
): { home: string; file: string | undefined } {
  const given = opts.value('h') ?? env.DB_HOME;
  if (given !== undefined && given !== '') return { home: path.resolve(given), file };
  const cwd = path.resolve('.');
  if (file !== undefined && file.includes('/') && !looksLikeEnvironment(cwd)) {
    const dir = path.resolve(path.dirname(file));
    // db_load makes the environment where the file is to be, never in the current directory.
    if (looksLikeEnvironment(dir) || options.creating === true) return { home: dir, file: path.basename(file) };
  }
  return { home: cwd, file };
}

/** Throws a one-line error unless `home` is an existing directory. */
export function requireHomeDir(home: string, exitCode?: number): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(home);
  } catch {
    throw new CliError(`environment home ${home} does not exist; give the environment directory with -h (or $DB_HOME)`, { exitCode });
  }
  if (!st.isDirectory()) throw new CliError(`environment home ${home} is not a directory; give the environment directory with -h`, { exitCode });
}

/** The directory layout of a home, from its DB_CONFIG (src/recovery/layout.ts). */
export function layoutOf(home: string): Layout {
  return readLayout(nodeVfs, home);
}

/** Where a data file of this name is (or would be created), as Environment.resolveDataFile. */
export function resolveDataFile(layout: Layout, name: string): string {
  return resolveIn(nodeVfs, layout, name);
}

/** The live owner of an environment (another process holding it open), if any. */
export function liveOwnerPid(home: string): number | undefined {
  try {
    const o = readOwner(nodeVfs, home);
    return o?.alive ? o.pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses with one line naming the owner's pid when another process owns the environment.
 * `advice` says what to do instead (e.g. "dump a hot backup of it").
 */
export function refuseLiveOwner(home: string, advice: string, exitCode?: number): void {
  const pid = liveOwnerPid(home);
  if (pid === undefined) return;
  throw new CliError(`environment ${home} is open in process ${pid}, so its data files are not consistent on disk; ${advice}`, { exitCode });
}

/**
 * Checks that the data files of `home` can be read directly: no live owner, and the control
 * file (when there is one) says the environment was closed cleanly or recovered.
 */
export function requireQuiescent(home: string, tool: string, exitCode?: number): Control | undefined {
  refuseLiveOwner(home, `stop that process first, or run ${tool} on a hot backup (db_hotbackup -h ${home} -b DIR)`, exitCode);
  const control = controlOf(home);
  if (control !== undefined && control.state !== 'closed') {
    const why = control.state === 'recovering' ? `a ${control.recovery ?? 'normal'} recovery of it did not finish` : 'it was not closed cleanly';
    throw new CliError(`environment ${home} needs recovery (${why}), so its data files may be incomplete; run db_recover -h ${home} first`, { exitCode });
  }
  return control;
}
