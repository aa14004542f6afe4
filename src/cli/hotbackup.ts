// db_hotbackup [-cDguVv] [-d data_dir ...] [-h home] [-l log_dir] -b backup_dir: a hot backup of
// a live environment (Berkeley DB's db_hotbackup; docs/BACKUP.md §db_hotbackup).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BackupResult, channelSource, checkBackupTarget, environmentSource, runHotBackup } from '../backup/hotbackup.js';
import { dataDirsOf, readEnvId, readLayout } from '../backup/layout.js';
import { connectChannel } from '../env/channel.js';
import { Environment } from '../env/environment.js';
import { nodeVfs } from '../io/node.js';
import { toolProgress } from './progress.js';
import { type CliIo, type ToolSpec, homeOf, printJson, requireEnvironment, runTool, usageError } from './common.js';

export const spec: ToolSpec = {
  name: 'db_hotbackup',
  usage: ['db_hotbackup [-cDFguVv] [-d data_dir ...] [-h home] [-l log_dir] -b backup_dir', '[--no-recover] [--json]'],
  options: 'b:cDd:Fgh:l:uVv',
  repeatable: 'd',
  unsupported: { P: 'cairn environments are not encrypted; drop -P' },
  long: { json: 'flag', 'no-recover': 'flag' },
  help: `Makes a recoverable copy of an environment while applications keep using it: the data files
(every page verified), then the log files, then catastrophic recovery in the copy, then removal
of the log files the copy no longer needs. Writes __cairn.backup.json (files, sizes, sha256,
start and end LSN, times) into the backup.

  -b dir       the backup directory (relative to the current directory); made if missing.
               It must be empty, or hold an earlier backup of this environment that
               nobody opened since (replaced); never the environment's own directories,
               whatever the path (symlinks and bind mounts are seen through).
  -c           checkpoint the source first (recovery of the copy then starts later). Unlike
               Berkeley DB, cairn does not remove the source's inactive logs with -c.
  -D           recreate DB_CONFIG's data and log directories inside the backup and copy
               DB_CONFIG; without -D everything goes flat into the backup directory
  -d dir       a data directory of the source (relative to the home): cairn takes the
               directories from DB_CONFIG, so -d and -l only check that they match
  -F           accepted for compatibility (cairn always reads plain files, verifying each page)
  -g           keep every copied log file in the backup after recovery
  -h home      the source environment home (default $DB_HOME, else the current directory)
  -l dir       the log directory of the source (relative to the home); see -d
  -u           update an existing backup: move the source's inactive log files into it and
               copy the active ones (refused if a log file would be missing), then recover
  -v           report each step on stdout, and progress lines on stderr when it is not a
               terminal (on a terminal a live progress line is always drawn on stderr)
  -V           print the version and exit
  --no-recover copy only; run db_recover -c -h backup_dir before opening the copy
  --json       print the backup report as JSON, and progress as NDJSON on stderr

While a process has the environment open, db_hotbackup asks it through its coordination channel
(__cairn.sock in the home) to checkpoint (-c) and to keep the log files it copies (no removal,
automatic or db_archive -d, until the copy is done); otherwise it opens the environment itself.
A second db_hotbackup into the same directory is refused while the first runs.
-d cannot be combined with -c; -D cannot be combined with -d or -l.
Exit status: 0 on success, 1 on error.
`,
};

/** Checks that `target` could be made and written, without making anything. */
function checkTarget(target: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw usageError(`cannot use the backup directory ${target} (${(e as NodeJS.ErrnoException).code}); choose a directory you can write`);
    }
  }
  if (st !== undefined) {
    if (!st.isDirectory()) throw usageError(`the backup directory ${target} exists and is not a directory; choose a directory`);
    try {
      fs.accessSync(target, fs.constants.W_OK | fs.constants.X_OK);
    } catch {
      throw usageError(`cannot write in the backup directory ${target} (permission denied); choose a directory you can write`);
    }
    return;
  }
  // Missing: the nearest existing ancestor must be a directory we can write.
  let dir = path.dirname(target);
  for (;;) {
    let a: fs.Stats | undefined;
    try {
      a = fs.statSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw usageError(`cannot create the backup directory ${target}: a parent of it is not a directory; choose a directory you can write`);
      if (code !== 'ENOENT') throw usageError(`cannot create the backup directory ${target} (${code}); choose a directory you can write`);
    }
    if (a !== undefined) {
      if (!a.isDirectory()) throw usageError(`cannot create the backup directory ${target}: ${dir} is not a directory; choose a directory you can write`);
      try {
        fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
      } catch {
        throw usageError(`cannot create the backup directory ${target}: ${dir} is not writable; choose a directory you can write`);
      }
      return;
    }
    const up = path.dirname(dir);
    if (up === dir) return;
    dir = up;
  }
}

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (o, ctx) => {
    const b = o.value('b');
    if (b === undefined) throw usageError('no backup directory given: name it with -b');
    if (o.has('c') && o.values('d').length > 0) throw usageError('-d and -c cannot be combined');
    if (o.has('D') && (o.values('d').length > 0 || o.value('l') !== undefined)) throw usageError('-D cannot be combined with -d or -l: with -D the directories come from DB_CONFIG');
    const home = homeOf(o);
    requireEnvironment(home);
    const dirs = readLayout(nodeVfs, home);
    for (const d of o.values('d')) {
      const abs = path.resolve(home, d);
      if (!dataDirsOf(dirs).includes(abs)) {
        throw usageError(`-d ${d}: not a data directory of ${home} (they are ${dataDirsOf(dirs).join(', ')}, from DB_CONFIG); cairn copies every data directory DB_CONFIG names`);
      }
    }
    const l = o.value('l');
    if (l !== undefined && path.resolve(home, l) !== dirs.logDir) {
      throw usageError(`-l ${l}: the log directory of ${home} is ${dirs.logDir}${dirs.logDir === home ? '' : ' (from DB_CONFIG)'}; cairn copies the log from there`);
    }
    const target = path.resolve(b);
    checkTarget(target);
    // Refuse what can be refused before the source is touched (opening it would checkpoint it).
    const envId = readEnvId(nodeVfs, dirs);
    if (envId !== undefined) checkBackupTarget(nodeVfs, dirs, envId, target, { update: o.has('u'), layout: o.has('D') ? 'config' : 'flat' });
    const verbose = o.has('v');
    const bar = toolProgress(io, spec.name, { json: o.long('json') !== undefined, verbose });
    const log = verbose
      ? (m: string) => {
          bar.clear();
          io.out(`db_hotbackup: ${m}\n`);
        }
      : undefined;
    const runOpts = { checkpoint: o.has('c'), update: o.has('u'), layout: o.has('D') ? ('config' as const) : ('flat' as const), keepLogs: o.has('g'), recover: o.long('no-recover') === undefined, log, progress: bar.report };

    let report: BackupResult;
    let ok = false;
    try {
      const client = await connectChannel(home);
      if (client !== undefined) {
        try {
          log?.(`${home} is open in process ${client.pid}: working through its coordination channel`);
          const status = await client.status();
          report = await runHotBackup(channelSource(client, status), target, runOpts);
        } finally {
          client.close();
        }
      } else {
        const env = await Environment.open(home, { checkpoint: false });
        try {
          report = await runHotBackup(environmentSource(env), target, { ...runOpts, vfs: env.vfs });
        } finally {
          await env.close();
        }
      }
      ok = true;
    } finally {
      bar.end(ok);
    }
    if (o.long('json') !== undefined) printJson(io, report);
    else if (!runOpts.recover) ctx.warn(`copied into ${target} without recovery; run db_recover -c -h ${target} before opening it`);
    return 0;
  });
}
