// db_printlog: print the log, one line per record, derived from the record table (issue 5;
// docs/TOOLS.md §db_printlog; the line format is src/log/records.ts formatRecord).
//
//   db_printlog [-NrV] [-b start-LSN] [-e stop-LSN] [-h home]
//
// Reads the log files directly (never writes, safe while an owner is running: a record being
// written at the end is not yet valid and is simply the end). LSNs are given as file/offset or
// [file][offset]; both bounds are inclusive. Commit and checkpoint times print in db_recover -t
// syntax (CCYYMMDDhhmm.SS, local time).

import { runTool, usageError, CliError, type CliIo, type ToolSpec } from './common.js';
import { nodeVfs } from '../io/node.js';
import { LOG_HEADER_SIZE } from '../log/file.js';
import { LogReader } from '../log/reader.js';
import { formatRecord } from '../log/records.js';
import { type Lsn, lsnFile, makeLsn, parseLsn } from '../util/lsn.js';
import { controlOf, layoutOf, requireHomeDir, resolveHome } from './home.js';
import { stdoutSink } from './output.js';

export const spec: ToolSpec = {
  name: 'db_printlog',
  usage: ['db_printlog [-NrV] [-b start-LSN] [-e stop-LSN] [-h home]'],
  options: 'b:D:e:h:NrRV',
  unsupported: { P: 'cairn environments are not encrypted' },
  help: [
    "Prints the records of an environment's log, one line each, for inspection.",
    '',
    '  -b LSN    start at this record (file/offset or [file][offset]; inclusive)',
    '  -e LSN    stop after this record (inclusive)',
    '  -r        newest record first',
    '  -h home   the environment directory (default $DB_HOME, else the current directory)',
    '  -N, -R, -D bytes   accepted for compatibility',
    '  -V        print the version and exit',
    'One line per record: [file][offset] type: field=value ... Times are in db_recover -t syntax.',
    'Exit status: 0 success, 1 failure (a damaged log: the records before the damage are printed).',
  ].join('\n'),
  operands: { min: 0, max: 0 },
};

function lsnOption(letter: string, text: string | undefined): Lsn | undefined {
  if (text === undefined) return undefined;
  const lsn = parseLsn(text);
  if (lsn === undefined) throw usageError(`-${letter} ${text}: expected an LSN as file/offset or [file][offset]`);
  return lsn;
}

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, (opts) => {
    const begin = lsnOption('b', opts.value('b'));
    const end = lsnOption('e', opts.value('e'));
    const { home } = resolveHome(opts);
    requireHomeDir(home);
    const layout = layoutOf(home);
    const control = controlOf(home);
    const reader = new LogReader(nodeVfs, layout.logDir, control !== undefined ? Buffer.from(control.envId, 'hex') : undefined);
    if (reader.files.length === 0) {
      throw new CliError(`no log files in ${layout.logDir}${control === undefined ? ` (${home} is not a cairn environment)` : ''}`);
    }
    const sink = stdoutSink(io);
    const reverse = opts.has('r');
    const kept: string[] = [];
    const last = reader.files[reader.files.length - 1]!;
    const first = reader.files[0]!;
    try {
      if (begin === undefined || lsnFile(begin) <= last) {
        // Start at the beginning of the file holding -b, so that an offset inside a record is fine.
        const from = begin === undefined ? undefined : makeLsn(Math.max(lsnFile(begin), first), LOG_HEADER_SIZE);
        for (const raw of reader.records(from)) {
          if (begin !== undefined && raw.lsn < begin) continue;
          if (end !== undefined && raw.lsn > end) break;
          const line = `${formatRecord(raw.lsn, reader.decode(raw))}\n`;
          if (reverse) kept.push(line);
          else sink.write(line);
        }
      }
    } catch (e) {
      sink.finish();
      throw e;
    }
    if (reverse) for (let i = kept.length - 1; i >= 0; i--) sink.write(kept[i]!);
    sink.finish();
    return 0;
  });
}
