// db_stat: statistics in Berkeley DB's shape, one `value<TAB>description` line each (issue 5;
// docs/TOOLS.md §db_stat).
//
//   db_stat -d file [-fN] [-h home] [-s database] [--json]
//   db_stat [-eltmNV] [-h home] [--json]
//
// -e/-l/-t/-m ask the live owner through the coordination channel when a process owns the
// environment, and read the files at rest otherwise. -d reads the data file directly and so
// needs a quiescent environment (no owner, closed cleanly).

import { ctime, printJson, runTool, usageError, type CliIo, type ToolSpec } from './common.js';
import { formatRecoverTime } from '../log/records.js';
import { logFileName } from '../log/file.js';
import { statDataFile, type DatabaseStat, type FileStat } from '../tools/datafile.js';
import { environmentReport, type EnvReport } from '../tools/envstat.js';
import type { KeptFor } from '../log/retention.js';
import { layoutOf, looksLikeEnvironment, requireHomeDir, requireQuiescent, resolveDataFile, resolveHome } from './home.js';
import { CliError } from './common.js';
import * as fs from 'node:fs';

export const spec: ToolSpec = {
  name: 'db_stat',
  usage: ['db_stat -d file [-fN] [-h home] [-s database] [--json]', 'db_stat [-EeltmNV] [-h home] [--json]'],
  options: 'd:Eefh:lmNs:tV',
  long: { json: 'flag' },
  unsupported: {
    P: 'cairn environments are not encrypted',
    c: 'cairn has no lock manager (one process owns an environment; see -e for the owner)',
    C: 'cairn has no lock manager (one process owns an environment; see -e for the owner)',
    x: 'cairn has no shared-memory mutexes',
    X: 'cairn has no shared-memory mutexes',
    r: 'cairn has no replication subsystem (hot failover uses db_hotbackup and db_recover -c)',
    R: 'cairn has no replication subsystem (hot failover uses db_hotbackup and db_recover -c)',
    Z: 'the counters belong to the owning process and are not reset by a tool',
    a: 'not supported: use -d file for a database and -m for the cache',
    g: 'not supported: use -d file for a database and -m for the cache',
    L: 'use -l for the log statistics',
    M: 'use -m for the cache statistics',
  },
  help: [
    "Prints statistics of an environment (-e, -l, -t, -m) or of a data file's databases (-d).",
    '',
    '  -d file      statistics of a data file\'s databases: levels, pages, keys, data items, fill',
    '  -f           with -d: fast, skip the counts that need a walk of every record (printed as 0)',
    '  -s database  with -d: only this database',
    '  -e / -E      the environment, followed by the log, transaction and cache sections',
    '  -l           the log        -t  transactions and checkpoints        -m  the cache and data files',
    '  -h home      the environment directory (default $DB_HOME, else the current directory)',
    '  --json       one JSON document instead of the text lines',
    '  -N           accepted for compatibility      -V  print the version and exit',
    'With a live owner, -e/-l/-t/-m ask it through its coordination channel; -d refuses (its data',
    'files are not consistent on disk while it runs). Exit status: 0 success, 1 failure.',
  ].join('\n'),
  operands: { min: 0, max: 0 },
};

const RULE = '=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=\n';

/** Berkeley DB's size style: "10MB", "64KB", "31KB 256B". */
export function formatSize(n: number): string {
  const units: Array<[number, string]> = [
    [1024 ** 3, 'GB'],
    [1024 ** 2, 'MB'],
    [1024, 'KB'],
  ];
  const parts: string[] = [];
  let rest = n;
  for (const [u, name] of units) {
    if (rest >= u) {
      parts.push(`${Math.floor(rest / u)}${name}`);
      rest %= u;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}B`);
  return parts.join(' ');
}

type Line = [string | number, string];

function lines(rows: Line[]): string {
  return rows.map(([v, d]) => `${v}\t${d}\n`).join('');
}

function when(d: Date | undefined): string {
  return d === undefined ? 'none' : `${ctime(d)} (${formatRecoverTime(d.getTime())})`;
}

function envLines(r: EnvReport): Line[] {
  const rows: Line[] = [
    [ctime(r.time), 'Local time'],
    [r.home, 'Environment home'],
    [r.envId, 'Environment ID'],
    [`cairn ${r.cairnVersion}`, 'Environment version'],
    [r.logFormatVersion, 'Log file format version'],
    [r.dataFormatVersion, 'Data file format version'],
    [r.state + (r.recovery !== undefined ? ` (${r.recovery} recovery unfinished)` : ''), 'Environment state (control file)'],
    [r.owner === undefined ? 'none' : r.owner.pid, 'Owner process ID'],
    [r.owner === undefined ? 'no' : r.owner.alive ? 'yes' : 'no (stale lock)', 'Owner process alive'],
    [r.live ? 'owner' : 'files at rest', 'Figures read from'],
    [r.config.present ? 'yes' : 'no', 'DB_CONFIG present'],
    [r.log.dir, 'Log directory'],
    [r.config.dataDirs.join(' '), 'Data directories'],
    [r.config.createDir, 'Create directory'],
    [r.config.durability, 'Commit durability'],
  ];
  return rows;
}

const KEPT_FOR: Record<KeptFor, string> = {
  recovery: 'Log file kept for recovery (at or after the redo point)',
  pin: 'Log file kept for a pin (a running backup or channel client)',
  retention: 'Log file kept for retention (not needed; DB_LOG_AUTO_REMOVE off keeps it for db_archive)',
  removable: 'Log file not needed (the next checkpoint removes it)',
};

function logLines(r: EnvReport): Line[] {
  const l = r.log;
  const rows: Line[] = [
    ['CAIRNLOG', 'Log magic number'],
    [r.logFormatVersion, 'Log version number'],
    [formatSize(l.fileSize), 'Current log file size'],
    [l.end.file, 'Current log file number'],
    [l.end.offset, 'Current log file offset'],
    [`${l.end.file}/${l.end.offset}`, 'End of the log (next LSN)'],
    [`${l.redo.file}/${l.redo.offset}`, 'Redo point (normal recovery starts here)'],
    [l.files.length, 'Number of log files'],
    [l.files.length > 0 ? logFileName(l.files[0]!) : 'none', 'First log file'],
    [l.files.length > 0 ? logFileName(l.files[l.files.length - 1]!) : 'none', 'Last log file'],
    [l.removable.length, 'Log files no longer needed by normal recovery (db_archive)'],
    [formatSize(l.bytesOnDisk), 'Log bytes on disk'],
  ];
  if (l.bytesWritten !== undefined) rows.push([formatSize(l.bytesWritten), 'Log bytes written since the owner opened the environment']);
  if (l.pins !== undefined) rows.push([l.pins.length, 'Log pins held by running backups']);
  rows.push([l.retention, 'Log retention (recovery: checkpoints remove unneeded files; all: DB_LOG_AUTO_REMOVE off)']);
  for (const k of l.kept) rows.push([k.name, KEPT_FOR[k.keptFor]]);
  return rows;
}

function txnLines(r: EnvReport): Line[] {
  const t = r.txn;
  const rows: Line[] = [
    [t.lastCheckpoint === undefined ? '0/0' : `${t.lastCheckpoint.file}/${t.lastCheckpoint.offset}`, 'File/offset for last checkpoint LSN'],
    [t.checkpointTime === undefined ? 'none' : ctime(t.checkpointTime), 'Checkpoint timestamp'],
    [t.lastTxnId === undefined ? '0' : `0x${t.lastTxnId.toString(16)}`, 'Last transaction ID allocated (as of the last checkpoint)'],
    [when(t.lastCommit), 'Last commit time (db_recover -t syntax)'],
  ];
  if (t.commits !== undefined) rows.push([t.commits, 'Number of transactions committed since the owner opened the environment']);
  if (t.checkpoints !== undefined) rows.push([t.checkpoints, 'Number of checkpoints since the owner opened the environment']);
  return rows;
}

function cacheLines(r: EnvReport): string {
  const c = r.cache;
  let out = lines([
    [formatSize(c.size), 'Total cache size'],
    [1, 'Number of caches'],
    [r.live ? 'owner' : 'not open', 'Cache held by'],
    [c.files.length, 'Number of data files'],
  ]);
  for (const f of c.files) {
    out += RULE;
    out += lines([
      [f.name, 'Pool File'],
      [f.pageSize, 'Page size'],
      [f.pages, 'Pages in the file'],
      [formatSize(f.bytes), 'File size'],
    ]);
  }
  return out;
}

function dupLabel(d: DatabaseStat): string {
  const flags: string[] = [];
  if (d.duplicates !== 'none') flags.push('duplicates');
  if (d.duplicates === 'sorted') flags.push('dupsort');
  for (const [k, v] of d.dumpHeader) if ((k === 'recnum' || k === 'renumber' || k === 'chksum') && v === '1') flags.push(k);
  return flags.length > 0 ? flags.join(', ') : '0';
}

function dbLines(f: FileStat, d: DatabaseStat, several: boolean, fast: boolean): string {
  const recno = d.type === 'recno' || d.type === 'queue';
  const rows: Line[] = [[ctime(new Date()), 'Local time']];
  if (d.name !== '') rows.push([d.name, 'Database name']);
  rows.push(
    [d.type, 'Database type (stored as a cairn B-tree)'],
    [f.version, 'Data file version number'],
    ['Little-endian', 'Byte order'],
    [several ? `multiple-databases${dupLabel(d) === '0' ? '' : `, ${dupLabel(d)}`}` : dupLabel(d), 'Flags'],
  );
  if (recno) {
    const reLen = d.dumpHeader.find(([k]) => k === 're_len')?.[1];
    const rePad = d.dumpHeader.find(([k]) => k === 're_pad')?.[1];
    rows.push([reLen ?? 0, 'Fixed-length record size'], [rePad ?? '0x20', 'Fixed-length record pad']);
  }
  rows.push(
    [f.pageSize, 'Underlying database page size'],
    [d.levels, 'Number of levels in the tree'],
    [fast ? 0 : d.keys, recno ? 'Number of records in the tree' : 'Number of unique keys in the tree'],
    [fast ? 0 : d.items, 'Number of data items in the tree'],
    [d.internal.pages, 'Number of tree internal pages'],
    [d.internal.bytesFree, `Number of bytes free in tree internal pages (${d.internal.fill}% ff)`],
    [d.leaf.pages, 'Number of tree leaf pages'],
    [d.leaf.bytesFree, `Number of bytes free in tree leaf pages (${d.leaf.fill}% ff)`],
    [d.overflow.pages, 'Number of tree overflow pages'],
    [d.overflow.bytesFree, `Number of bytes free in tree overflow pages (${d.overflow.fill}% ff)`],
    [d.emptyPages, 'Number of empty pages'],
    [f.freePages, 'Number of pages on the free list'],
    [f.pages, 'Number of pages in the file'],
  );
  return lines(rows);
}

function reportJson(r: EnvReport, what: { e: boolean; l: boolean; t: boolean; m: boolean }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (what.e) {
    out.environment = {
      time: r.time.toISOString(),
      home: r.home,
      envId: r.envId,
      version: r.cairnVersion,
      logFormatVersion: r.logFormatVersion,
      dataFormatVersion: r.dataFormatVersion,
      state: r.state,
      recovery: r.recovery,
      owner: r.owner,
      live: r.live,
      config: r.config,
    };
  }
  if (what.l) out.log = r.log;
  if (what.t) {
    out.txn = {
      ...r.txn,
      checkpointTime: r.txn.checkpointTime?.toISOString(),
      lastCommit: r.txn.lastCommit?.toISOString(),
      lastCommitRecoverTime: r.txn.lastCommit === undefined ? undefined : formatRecoverTime(r.txn.lastCommit.getTime()),
    };
  }
  if (what.m) out.cache = r.cache;
  return out;
}

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (opts) => {
    const json = opts.long('json') !== undefined;
    const dbFile = opts.value('d');
    const e = opts.has('e') || opts.has('E');
    const what = { e, l: opts.has('l') || e, t: opts.has('t') || e, m: opts.has('m') || e };
    if (dbFile === undefined && !what.l && !what.t && !what.m) throw usageError('choose what to report: -d file, -e, -l, -t or -m');
    if (dbFile !== undefined && (opts.has('e') || opts.has('E') || opts.has('l') || opts.has('t') || opts.has('m'))) {
      throw usageError('-d cannot be combined with -e, -l, -t or -m');
    }
    if (dbFile === undefined && (opts.has('s') || opts.has('f'))) throw usageError('-s and -f go with -d file');
    const resolved = resolveHome(opts, dbFile);
    const home = resolved.home;
    requireHomeDir(home);
    if (dbFile !== undefined) {
      if (looksLikeEnvironment(home) || fs.existsSync(`${home}/__cairn.lock`)) requireQuiescent(home, 'db_stat -d');
      const layout = layoutOf(home);
      const p = resolveDataFile(layout, resolved.file!);
      if (!fs.existsSync(p)) throw new CliError(`${dbFile}: No such file or directory (looked for ${p})`);
      const fast = opts.has('f');
      const st = statDataFile(p, { ...(opts.value('s') !== undefined ? { name: opts.value('s')! } : {}), fast });
      if (json) {
        printJson(io, { file: { ...st, path: p }, fast });
        return 0;
      }
      const several = st.totalDatabases > 1 || st.databases.some((d) => d.name !== '');
      io.out(st.databases.map((d) => dbLines(st, d, several, fast)).join(RULE));
      return 0;
    }
    const r = await environmentReport(home);
    if (json) {
      printJson(io, reportJson(r, what));
      return 0;
    }
    const blocks: string[] = [];
    if (what.e) blocks.push(lines(envLines(r)));
    if (what.l) blocks.push(lines(logLines(r)));
    if (what.t) blocks.push(lines(txnLines(r)));
    if (what.m) blocks.push(cacheLines(r));
    io.out(blocks.join(RULE));
    return 0;
  });
}
