// db_dump: write the databases of a data file in Berkeley DB 5.3's portable text format
// (issue 5; docs/TOOLS.md §db_dump; the format itself is src/dump/).
//
//   db_dump [-klNpVv] [-d ahr] [-f output] [-h home] [-s database] db_file
//
// Reads through a read-only environment (nothing in the home is written, except the owner
// lock taken and released while it runs). A live owner is refused: its data files are not
// consistent on disk; dump a hot backup instead.

import { Environment } from '../env/environment.js';
import { formatFooter, formatHeader, formatRecnoRecord, formatRecord, type DumpFormat } from '../dump/format.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { CliError, runTool, usageError, type CliIo, type Options, type ToolSpec } from './common.js';
import { type ProgressRenderer, toolProgress } from './progress.js';
import { headerFor, isRecnoType, recnoOfKey } from '../tools/dbmeta.js';
import { pageLines } from '../tools/datafile.js';
import { layoutOf, looksLikeEnvironment, refuseLiveOwner, requireHomeDir, requireQuiescent, resolveDataFile, resolveHome } from './home.js';
import { fileSink, stdoutSink, type Sink } from './output.js';
import * as fs from 'node:fs';

const SALVAGE = 'salvage mode is not supported: cairn pages carry checksums, so damage is found, not guessed around; run db_verify to see which pages are bad, then recover from the log (db_recover -c) or restore a hot backup';

export const spec: ToolSpec = {
  name: 'db_dump',
  usage: ['db_dump [-klNpVv] [-d ahr] [-f output] [-h home] [-s database] db_file', '[--json]'],
  options: 'd:D:f:h:klNps:Vv',
  long: { json: 'flag' },
  unsupported: {
    P: 'cairn environments are not encrypted',
    m: 'cairn has no in-memory databases',
    r: SALVAGE,
    R: SALVAGE,
  },
  help: [
    "Writes the databases of a data file as Berkeley DB's portable dump text (for db_load, or to read).",
    '',
    '  -d a|h|r     debug listing of the pages of db_file instead of a dump (a: all, h: headers, r: without free pages)',
    '  -f output    write the dump to this file (created under a temporary name, renamed when complete)',
    '  -h home      the environment directory (default $DB_HOME, else the current directory)',
    '  -k           recno/queue: print record numbers as keys (keys=1)',
    '  -l           list the names of the databases in db_file, one per line',
    '  -N           accepted for compatibility (cairn takes no region mutexes)',
    '  -p           format=print: printable bytes as they are, others as \\hh',
    '  -s database  dump only this database (the dump then has no database= line)',
    '  -V           print the version and exit',
    '  -v           progress lines on stderr when it is not a terminal (on a terminal a live progress',
    '               line is always drawn on stderr)',
    '  --json       progress as NDJSON on stderr (the dump itself is unchanged)',
    'db_file is relative to the environment\'s data directories. Every database of the file is',
    'dumped, one block each, unless -s is given. Exit status: 0 success, 1 failure.',
  ].join('\n'),
  operands: { min: 1, max: 1, name: 'db_file' },
};

/** Writes one database (header, records, DATA=END) to the sink. */
async function dumpOne(env: Environment, file: string, name: string, format: DumpFormat, keys: boolean, withDatabaseLine: boolean, sink: Sink, onRecord: () => void): Promise<void> {
  const db = await env.openDatabase(file, name === '' ? {} : { name });
  const where = name === '' ? file : `${file} (database "${name}")`;
  // The records come from the leaves' sibling links, which a damaged branch (a child in another
  // tree, or twice) does not disturb: the tree's structure is checked first, so a damaged tree
  // is reported (CORRUPT, with the page), never dumped as if sound (issue 21, F13).
  const bad = db.verify()[0];
  if (bad !== undefined) {
    const m = /^page (\d+): /.exec(bad);
    throw new CorruptionError(db.file.path, m === null ? 0 : Number(m[1]) * db.file.pageSize, `${m === null ? bad : bad.slice(m[0].length)} (${where}); run db_verify`);
  }
  const header = headerFor(db.descriptor, db.file.pageSize, { format, keys, database: withDatabaseLine && name !== '' ? name : undefined }, where);
  sink.write(formatHeader(header));
  if (isRecnoType(header.type)) {
    for (const [k, v] of db.range()) {
      sink.write(formatRecnoRecord(recnoOfKey(k, where), v, format, keys));
      onRecord();
    }
  } else {
    for (const [k, v] of db.range()) {
      sink.write(formatRecord(k, v, format));
      onRecord();
    }
  }
  sink.write(formatFooter());
}

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (opts) => {
    const bar = toolProgress(io, spec.name, { json: opts.long('json') !== undefined, verbose: opts.has('v'), streamsToStdout: opts.value('f') === undefined });
    let ok = false;
    try {
      const status = await dump(opts, io, bar);
      ok = true;
      return status;
    } finally {
      bar.end(ok);
    }
  });
}

/** The dump (or -d listing, or -l list) itself, progress to `bar`. */
async function dump(opts: Options, io: CliIo, bar: ProgressRenderer): Promise<number> {
  const debug = opts.value('d');
  if (debug !== undefined && !['a', 'h', 'r'].includes(debug)) throw usageError(`-d ${debug}: expected a, h or r`);
  const resolved = resolveHome(opts, opts.operands[0]);
  const home = resolved.home;
  const file = resolved.file!;
  requireHomeDir(home);
  if (!looksLikeEnvironment(home)) {
    throw new CliError(`${home} is not a cairn environment (no __cairn.control); give the environment directory with -h`);
  }
  const advice = `dump a hot backup of it instead (db_hotbackup -h ${home} -b DIR, then db_dump -h DIR), or stop that process`;
  refuseLiveOwner(home, advice);
  const layout = layoutOf(home);
  const filePath = resolveDataFile(layout, file);
  if (!fs.existsSync(filePath)) {
    // A crashed environment's data may be only in its log: that needs recovery, not a missing file.
    requireQuiescent(home, 'db_dump');
    throw new CliError(`open: ${file}: No such file or directory (looked for ${filePath})`);
  }
  const makeSink = (): Sink => (opts.value('f') !== undefined ? fileSink(opts.value('f')!) : stdoutSink(io));
  if (debug !== undefined) {
    requireQuiescent(home, 'db_dump');
    const sink = makeSink();
    try {
      for (const line of pageLines(filePath, debug !== 'r', bar.report)) sink.write(line);
      sink.finish();
    } catch (e) {
      sink.abort();
      throw e;
    }
    return 0;
  }
  refuseLiveOwner(home, advice);
  const env = await Environment.open(home, { readOnly: true });
  let sink: Sink | undefined;
  try {
    const names = env.listDatabases(file);
    const named = names.filter((n) => n !== '');
    if (opts.has('l')) {
      if (named.length === 0) throw new CliError(`${file}: does not contain multiple databases`);
      sink = makeSink();
      for (const n of named) sink.write(`${n}\n`);
      sink.finish();
      return 0;
    }
    let chosen: string[];
    const only = opts.value('s');
    if (only !== undefined) {
      if (!names.includes(only)) {
        throw new CliError(`open: ${file}: no database named "${only}"${named.length > 0 ? ` (it holds ${named.map((n) => `"${n}"`).join(', ')})` : ' (it holds only the unnamed database)'}`);
      }
      chosen = [only];
    } else {
      if (names.length === 0) throw new CliError(`${file}: holds no databases`);
      chosen = names; // catalog order: the unnamed database ('') first, then names in byte order
    }
    const format: DumpFormat = opts.has('p') ? 'print' : 'bytevalue';
    const withDatabaseLine = only === undefined && named.length > 0;
    sink = makeSink();
    let records = 0;
    const onRecord = () => {
      if (++records % 1000 === 0) bar.report({ phase: 'records', done: records, total: undefined, unit: 'records' });
    };
    for (const name of chosen) await dumpOne(env, file, name, format, opts.has('k'), withDatabaseLine, sink, onRecord);
    bar.report({ phase: 'records', done: records, total: records, unit: 'records' });
    sink.finish();
    return 0;
  } catch (e) {
    sink?.abort();
    if (e instanceof CairnError && e.code === 'NOT_FOUND') throw new CliError(`open: ${e.message}`);
    throw e;
  } finally {
    await env.close();
  }
}
