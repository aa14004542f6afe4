// db_recover [-cefVv] [-h home] [-t [[CC]YY]MMDDhhmm[.SS]]: normal or catastrophic recovery,
// optionally to a point in time (Berkeley DB's db_recover; docs/BACKUP.md §db_recover).
// Unlike Berkeley DB, -t never deletes the later log: it is kept aside and the tool says where.

import { backupLockHolder, recordRecovery } from '../backup/manifest.js';
import { Environment } from '../env/environment.js';
import { nodeVfs } from '../io/node.js';
import { formatRecoverTime } from '../log/records.js';
import type { Progress } from '../util/progress.js';
import { toolProgress } from './progress.js';
import { CliError, type CliIo, type ToolSpec, ctime, homeOf, liveOwner, printJson, requireEnvironment, runTool, usageError } from './common.js';

export const spec: ToolSpec = {
  name: 'db_recover',
  usage: ['db_recover [-cefVv] [-h home] [-t [[CC]YY]MMDDhhmm[.SS]] [--json]'],
  options: 'cefh:t:Vv',
  unsupported: { P: 'cairn environments are not encrypted; drop -P' },
  long: { json: 'flag' },
  help: `Recovers an environment: replays its log into its data files.

  -c           catastrophic recovery: replay every log file present, from the first. Run it on
               every hot backup and failover copy after copying log files into it.
  -e           accepted for compatibility (cairn keeps no region files)
  -f           print progress ("Recovery N% complete") on stdout
  -h home      environment home (default $DB_HOME, else the current directory)
  -t time      recover to a time, local, [[CC]YY]MMDDhhmm[.SS] (db_printlog shows commit times in
               this form); commits up to the end of that second are kept, later ones are not
               applied. The later log files are NOT deleted (Berkeley DB deletes them): they are
               moved into __cairn.after-<time>/ in the log directory, and db_recover prints where.
  -v           verbose: where recovery started and ended, how much it replayed; progress
               lines on stderr when it is not a terminal (on a terminal a live progress line is
               always drawn on stderr)
  -V           print the version and exit
  --json       print the recovery report as JSON, and progress as NDJSON on stderr

Without -c, recovery starts at the last checkpoint (what opening the environment does by itself
after a crash). db_recover refuses while a process has the environment open (it names the pid)
and while a db_hotbackup is writing into the directory. A failed recovery leaves the directory
marked: normal opens are refused until a recovery succeeds.
Exit status: 0 on success, 1 on error.
`,
};

/** Parses [[CC]YY]MMDDhhmm[.SS] (local time); undefined when malformed or out of range. */
export function parseRecoverTime(text: string, now: Date = new Date()): Date | undefined {
  const m = /^(\d{8}|\d{10}|\d{12})(?:\.(\d{2}))?$/.exec(text);
  if (!m) return undefined;
  let digits = m[1]!;
  let year: number;
  if (digits.length === 12) {
    year = Number(digits.slice(0, 4));
    digits = digits.slice(4);
  } else if (digits.length === 10) {
    const yy = Number(digits.slice(0, 2));
    year = yy < 69 ? 2000 + yy : 1900 + yy; // POSIX touch(1)
    digits = digits.slice(2);
  } else year = now.getFullYear();
  const [mo, dd, hh, mi] = [0, 2, 4, 6].map((i) => Number(digits.slice(i, i + 2))) as [number, number, number, number];
  const ss = m[2] !== undefined ? Number(m[2]) : 0;
  if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59) return undefined;
  const d = new Date(year, mo - 1, dd, hh, mi, ss);
  if (d.getMonth() !== mo - 1 || d.getDate() !== dd) return undefined; // e.g. February 30
  return d;
}

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (o) => {
    const catastrophic = o.has('c');
    const verbose = o.has('v');
    let until: Date | undefined;
    const t = o.value('t');
    if (t !== undefined) {
      const d = parseRecoverTime(t);
      if (d === undefined) throw usageError(`-t ${t}: out of range or illegal time specification: [[CC]YY]MMDDhhmm[.SS]`);
      until = new Date(d.getTime() + 999); // the whole second named
    }
    const home = homeOf(o);
    requireEnvironment(home, { allowLogsOnly: true });
    const owner = liveOwner(home);
    if (owner !== undefined) {
      throw new CliError(`${home} is open in process ${owner.pid}; recovering under a running owner would corrupt it: stop that process first (db_checkpoint and db_hotbackup work through it while it runs)`);
    }
    const backup = backupLockHolder(nodeVfs, home);
    if (backup !== undefined) throw new CliError(`a db_hotbackup (process ${backup}) is writing into ${home}; wait for it to finish (it runs the recovery itself)`);

    const bar = toolProgress(io, spec.name, { json: o.long('json') !== undefined, verbose });
    let last = -1;
    const progress = (p: Progress): void => {
      bar.report(p);
      // -f: "Recovery N% complete" on stdout as the log is replayed (at most 99 until it is over).
      if (!o.has('f') || p.total === undefined || p.total === 0) return;
      const pct = Math.min(99, Math.floor((100 * p.done) / p.total));
      if (pct === last) return;
      last = pct;
      bar.clear();
      io.out(`Recovery ${pct}% complete\n`);
    };
    let report;
    try {
      report = await Environment.recover(home, { catastrophic, until, progress });
    } finally {
      bar.end(report !== undefined);
    }
    if (report.kind === 'catastrophic') recordRecovery(nodeVfs, home, report);
    if (o.has('f')) io.out('Recovery 100% complete\n');
    if (o.long('json') !== undefined) {
      printJson(io, { ...report, lastCommit: report.lastCommit?.toISOString() });
    } else if (verbose) {
      io.out(`Recovery starting from ${report.start}${report.kind === 'catastrophic' ? ' (catastrophic)' : ''}\n`);
      io.out(`Recovery complete at ${ctime()}\n`);
      io.out(`Recovered ${report.transactions} transactions (${report.pagesRedone} pages redone, ${report.logBytes} bytes of log) in ${Math.round(report.durationMs)} ms; end of log ${report.end}\n`);
      if (report.lastCommit !== undefined) io.out(`Last commit applied at ${formatRecoverTime(report.lastCommit.getTime())} (${ctime(report.lastCommit)})\n`);
    }
    if (until !== undefined && o.long('json') === undefined) {
      if (report.keptLogDir !== undefined) {
        io.out(`Log after the recovery point kept in ${report.keptLogDir} (nothing deleted; to undo: move those files back and run db_recover -c)\n`);
      } else {
        io.out(`Nothing in the log is later than ${formatRecoverTime(until.getTime())}: no log file was set aside\n`);
      }
    }
    return 0;
  });
}
