// db_archive [-adlsVv] [-h home]: the files to archive for catastrophic recovery and failover
// (Berkeley DB's db_archive; docs/BACKUP.md §db_archive).

import * as path from 'node:path';
import { archiveFromDisk } from '../backup/archive.js';
import { displayPath, readLayout } from '../backup/layout.js';
import { connectChannel } from '../env/channel.js';
import { nodeVfs } from '../io/node.js';
import { logFileName } from '../log/file.js';
import { formatLsn, lsnFile } from '../util/lsn.js';
import { type CliIo, type ToolSpec, homeOf, printJson, requireEnvironment, runTool, usageError } from './common.js';

export const spec: ToolSpec = {
  name: 'db_archive',
  usage: ['db_archive [-adlsVv] [-h home] [--json]'],
  options: 'adh:lsVv',
  unsupported: { P: 'cairn environments are not encrypted; drop -P' },
  long: { json: 'flag' },
  help: `Lists the files of an environment to archive, or to copy into a failover directory.

  (no option)  log files no longer needed for normal recovery ("inactive"): archive them or
               move them into the failover copy, then remove them (-d)
  -a           absolute paths
  -d           remove the inactive log files; prints nothing. A log file that a running backup
               has pinned is never inactive.
  -h home      environment home (default $DB_HOME, else the current directory)
  -l           all log files, active or not, oldest first
  -s           the database files (what catastrophic recovery needs besides the logs)
  -v           say on stderr what the list is based on (redo point, pins, owner)
  -V           print the version and exit
  --json       print {"home", "files"} as JSON instead of one name per line

Names are relative to the environment home (the -h directory), also when DB_CONFIG puts the
logs or data files in other directories: a script can run from the home, or use -a and run
anywhere. (Berkeley DB prints them relative to the log or data directory holding them.)
While a process has the environment open, db_archive asks that process through its
coordination channel (__cairn.sock in the home); otherwise it reads the control file and the
directories itself, and changes nothing unless -d is given.
-d cannot be combined with -a, -l or -s; -l and -s cannot be combined.
Exit status: 0 on success (also when nothing is listed), 1 on error.
`,
};

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (o, ctx) => {
    const remove = o.has('d');
    const logs = o.has('l');
    const data = o.has('s');
    const absolute = o.has('a');
    const verbose = o.has('v');
    if (logs && data) throw usageError('-l and -s cannot be combined: ask for one list at a time');
    if (remove && (logs || data || absolute)) throw usageError('-d cannot be combined with -a, -l or -s: it removes the inactive log files and prints nothing');
    const home = homeOf(o);
    requireEnvironment(home, { allowLogsOnly: logs || data });
    let names: string[];
    if (logs || data) {
      names = archiveFromDisk(nodeVfs, home, { logs, data, absolute }).names;
    } else {
      const client = await connectChannel(home);
      if (client !== undefined) {
        try {
          const status = await client.status();
          const r = await client.archive(remove);
          if (verbose) {
            ctx.warn(`asking the owner of ${home} (process ${client.pid}) through its channel`);
            ctx.warn(`redo point ${status.redoText}: log files before ${logFileName(lsnFile(status.redo))} are not needed by normal recovery`);
            for (const p of status.pins) ctx.warn(`pin ${p.id}: a backup keeps log files from ${logFileName(p.from)} on`);
          }
          const dirs = { home: status.home, logDir: status.logDir, dataDirs: status.dataDirs, createDir: status.createDir };
          const files = remove ? r.removed : r.removable;
          names = files.map((n) => displayPath(dirs, path.join(dirs.logDir, logFileName(n)), absolute));
        } finally {
          client.close();
        }
      } else {
        const r = archiveFromDisk(nodeVfs, home, { remove, absolute });
        if (verbose) {
          ctx.warn(`no process has ${home} open: reading its control file`);
          ctx.warn(`redo point ${formatLsn(r.redo!)}: log files before ${logFileName(lsnFile(r.redo!))} are not needed by normal recovery`);
        }
        names = r.names;
      }
      if (remove) {
        if (verbose) for (const n of names) ctx.warn(`removed ${n}`);
        return 0;
      }
    }
    if (o.long('json') !== undefined) printJson(io, { home: readLayout(nodeVfs, home).home, files: names });
    else for (const n of names) io.out(`${n}\n`);
    return 0;
  });
}
