// db_load: load a Berkeley DB 5.3 dump (or -T text) into a database, atomically (issue 5;
// docs/TOOLS.md §db_load; the engine side is src/tools/loader.ts).
//
//   db_load [-nTVv] [-c name=value] [-f file] [-h home] [-t btree|hash|recno|queue] db_file
//
// Exit status as Berkeley DB's: 0 success, 1 when -n left existing keys alone, 2 any error
// (bad command line included). A malformed dump changes nothing on disk.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { checkOverrides, DUMP_TYPES, DumpOverrideError, type DumpParserOptions, type DumpType } from '../dump/format.js';
import { CliError, runTool, usageError, type CliIo, type ToolSpec } from './common.js';
import { refuseLiveOwner, requireHomeDir, resolveHome } from './home.js';
import { runLoad, type LoadInput } from '../tools/loader.js';
import { CairnError } from '../util/errors.js';
import { toolProgress } from './progress.js';

export const spec: ToolSpec = {
  name: 'db_load',
  usage: ['db_load [-nTVv] [-c name=value] [-f file] [-h home] [-t btree | hash | recno | queue] db_file', '[--json]'],
  options: 'c:f:h:nTt:Vv',
  long: { json: 'flag' },
  repeatable: 'c',
  unsupported: {
    P: 'cairn environments are not encrypted',
    r: 'not needed in cairn: page LSNs and file ids are checked against the environment, and a data file cannot be moved between environments (dump it and load the dump instead)',
  },
  help: [
    "Loads Berkeley DB dump text (from db_dump or Berkeley DB's own) into a data file, all or nothing.",
    '',
    '  -c name=value  set a header keyword after the dump\'s header (bt_minkey chksum db_lorder db_pagesize',
    '                 duplicates dupsort extentsize h_ffactor h_nelem re_len re_pad recnum renumber,',
    '                 database=NAME to load into a named database, keys=0|1); repeatable',
    '  -f file        read the dump from this file (default: standard input)',
    '  -h home        the environment directory (default $DB_HOME, else the current directory);',
    '                 a directory that holds no environment yet gets a new one',
    '  -n             do not overwrite existing keys: report each one and exit 1',
    '  -T             the input is plain text, one item per line (\\\\ and \\hh escapes); needs -t',
    '  -t type        load as btree, hash, recno or queue (btree<->hash, recno<->queue; recno/queue dumps',
    '                 taken with db_dump -k load as btree/hash with the record numbers as keys)',
    '  -V             print the version and exit',
    '  -v             progress lines on stderr when it is not a terminal (on a terminal a live',
    '                 progress line is always drawn on stderr)',
    '  --json         progress as NDJSON on stderr',
    'The whole input is checked before anything is written; a new file appears only when the load',
    'is complete, and a load into an existing file is one transaction.',
    'Exit status: 0 success, 1 keys skipped by -n, 2 error.',
  ].join('\n'),
  usageExit: 2,
  errorExit: 2,
  operands: { min: 1, max: 1, name: 'db_file' },
};

export function main(args: string[], io: CliIo): Promise<number> {
  return runTool(spec, args, io, async (opts, ctx) => {
    const type = opts.value('t');
    if (type !== undefined && !DUMP_TYPES.includes(type as DumpType)) throw usageError(`-t ${type}: expected btree, hash, recno or queue`);
    const overrides = opts.values('c');
    try {
      checkOverrides(overrides);
    } catch (e) {
      if (e instanceof DumpOverrideError) throw new CliError(e.message, { exitCode: 2 });
      throw e;
    }
    if (opts.has('T') && type === undefined) throw new CliError('no database type specified: -T needs -t btree, hash, recno or queue', { exitCode: 2 });
    const parser: DumpParserOptions = {
      ...(type !== undefined ? { type: type as DumpType } : {}),
      ...(overrides.length > 0 ? { overrides } : {}),
      ...(opts.has('T') ? { text: true } : {}),
    };
    const resolved = resolveHome(opts, opts.operands[0], process.env, { creating: true });
    requireHomeDir(resolved.home, 2);
    refuseLiveOwner(resolved.home, 'load while it is stopped, or load through the API in that process', 2);
    const bar = toolProgress(io, spec.name, { json: opts.long('json') !== undefined, verbose: opts.has('v') });
    let result;
    try {
      result = await runLoad({
        home: resolved.home,
        file: resolved.file!,
        input: dumpInput(opts.value('f')),
        parser,
        noOverwrite: opts.has('n'),
        warn: (m) => {
          bar.clear();
          ctx.warn(m);
        },
        progress: bar.report,
      });
    } finally {
      bar.end(result !== undefined);
    }
    return result.skipped > 0 ? 1 : 0;
  });
}

/** Standard input as chunks. */
export function stdinChunks(): AsyncIterable<Uint8Array | string> {
  return process.stdin as Readable as AsyncIterable<Uint8Array | string>;
}

/** Reads a file as chunks. */
function chunks(p: string): AsyncIterable<Buffer> {
  return fs.createReadStream(p, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
}

function isRegularFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Hands on each chunk of `source` after writing it to `fd`; calls `done` at the end. */
async function* spooled(source: AsyncIterable<Uint8Array | string>, fd: number, done: () => void): AsyncIterable<Uint8Array | string> {
  try {
    for await (const chunk of source) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let at = 0;
      while (at < b.length) at += fs.writeSync(fd, b, at);
      yield chunk;
    }
  } finally {
    done();
  }
}

/**
 * The dump db_load reads: `file` (-f), else standard input. A regular file is read twice (the
 * check, then the load); any other input (standard input, a pipe) is copied to a spool file in
 * the OS temporary directory while it is checked, and the load reads the spool.
 */
export function dumpInput(file: string | undefined, stdin: () => AsyncIterable<Uint8Array | string> = stdinChunks): LoadInput {
  let source = file;
  let spoolDir: string | undefined;
  let spoolFd: number | undefined;
  const closeSpool = (): void => {
    const fd = spoolFd;
    spoolFd = undefined;
    if (fd !== undefined) fs.closeSync(fd);
  };
  return {
    first: () => {
      if (file !== undefined && !fs.existsSync(file)) throw new CairnError('INVALID_ARGUMENT', `${file}: No such file or directory`);
      if (file !== undefined && isRegularFile(file)) return { chunks: chunks(file), size: fs.statSync(file).size };
      spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'db_load-'));
      source = path.join(spoolDir, 'input');
      spoolFd = fs.openSync(source, 'w', 0o600);
      return { chunks: spooled(file !== undefined ? chunks(file) : stdin(), spoolFd, closeSpool), size: undefined };
    },
    again: () => chunks(source!),
    close: () => {
      try {
        closeSpool();
      } finally {
        if (spoolDir !== undefined) fs.rmSync(spoolDir, { recursive: true, force: true });
      }
    },
  };
}
