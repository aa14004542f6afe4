// Shared plumbing for every db_* utility: getopt-style option parsing, --help / -V, the home
// directory, numbers, and one-line error printing with Berkeley DB's exit-code convention.
//
// A tool is declared once as a ToolSpec and run through runTool():
//
//   const spec: ToolSpec = {
//     name: 'db_archive',
//     usage: ['db_archive [-adlsVv] [-h home]'],
//     options: 'adh:lsVv',
//     help: '…what each option does…',
//   };
//   export function main(args: string[], io: CliIo): Promise<number> {
//     return runTool(spec, args, io, async (opts, ctx) => { … return 0; });
//   }
//
// Conventions (docs/BACKUP.md; Berkeley DB 5.3's utility conventions, docs/TOOLS.md):
// - options as getopt parses them: clustered (`-adl`), values attached (`-hdir`) or separate
//   (`-h dir`), `--` ends the options, operands may come anywhere (GNU permutation);
// - `--help` prints the usage and the option list on stdout, exit 0; `-V` / `--version` print
//   the version on stdout, exit 0;
// - a usage error prints `<prog>: <message>` and the usage on stderr, exit `usageExit` (1;
//   db_load uses 2); any other failure prints one line `<prog>: <what failed>; <what to do>`
//   on stderr and exits with the tool's error status (1 unless the tool says otherwise);
// - the home is `-h`, else $DB_HOME, else the current directory.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliIo } from './main.js';
import { CairnError } from '../util/errors.js';
import { CONTROL_FILE } from '../env/control.js';
import { foreignLogs, readOwner } from '../env/lock.js';
import { nodeVfs } from '../io/node.js';
import { listLogFiles } from '../log/reader.js';
import { readLayout } from '../recovery/layout.js';
import { VERSION } from '../util/version.js';

export type { CliIo } from './main.js';
import { OutputClosed, outputClosed, programName } from './main.js';

export { VERSION } from '../util/version.js';

export interface ToolSpec {
  /** The program name used in messages, e.g. 'db_archive'. */
  name: string;
  /** Usage lines without the leading "usage: " (several for tools with several forms). */
  usage: string[];
  /**
   * getopt string: each letter is a flag; a letter followed by ':' takes a value. Do not list
   * h/V here unless the tool uses them: add them explicitly (most tools have 'h:' and 'V').
   */
  options: string;
  /** Documentation only: letters whose values are meant to repeat (read them with values()); value() returns the last, as getopt loops do. */
  repeatable?: string;
  /** Letters recognised but refused with this message (e.g. P: 'cairn environments are not encrypted'). */
  unsupported?: Record<string, string>;
  /** Long options: name → 'flag' or 'value' (--name=value or --name value). --help and --version are implicit. */
  long?: Record<string, 'flag' | 'value'>;
  /** The --help text after the usage lines: one line per option, and what names are relative to. */
  help: string;
  /** Exit status for usage errors (1; db_load: 2). */
  usageExit?: number;
  /** Exit status for other errors (1). */
  errorExit?: number;
  /** Operand count limits (default: none allowed). */
  operands?: { min?: number; max?: number; name?: string };
}

/** Parsed command line. */
export class Options {
  /** Letters given (flags and valued options), in order, with repeats. */
  readonly given: string[] = [];
  readonly operands: string[] = [];
  private readonly vals = new Map<string, string[]>();
  private readonly longs = new Map<string, string | true>();

  /** @internal */
  add(letter: string, value?: string): void {
    this.given.push(letter);
    if (value !== undefined) {
      const list = this.vals.get(letter) ?? [];
      list.push(value);
      this.vals.set(letter, list);
    }
  }

  /** @internal */
  addLong(name: string, value: string | true): void {
    this.longs.set(name, value);
  }

  /** The flag or option was given. */
  has(letter: string): boolean {
    return this.given.includes(letter);
  }

  /** The last value of a valued option. */
  value(letter: string): string | undefined {
    const list = this.vals.get(letter);
    return list === undefined ? undefined : list[list.length - 1];
  }

  /** Every value of a repeatable option, in order. */
  values(letter: string): string[] {
    return this.vals.get(letter) ?? [];
  }

  /** A long option: true for a flag, the string for a valued one, undefined when absent. */
  long(name: string): string | true | undefined {
    return this.longs.get(name);
  }
}

/** A failure to report in one line. `usage`: also print the usage (bad command line). */
export class CliError extends Error {
  readonly usage: boolean;
  readonly exitCode: number | undefined;
  constructor(message: string, options: { usage?: boolean; exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'CliError';
    this.usage = options.usage ?? false;
    this.exitCode = options.exitCode;
  }
}

/** A bad command line: message, then usage, exit status usageExit. */
export function usageError(message: string): CliError {
  return new CliError(message, { usage: true });
}

interface Letter {
  takesValue: boolean;
}

function letters(spec: ToolSpec): Map<string, Letter> {
  const out = new Map<string, Letter>();
  const s = spec.options;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === ':') continue;
    out.set(c, { takesValue: s[i + 1] === ':' });
  }
  return out;
}

/**
 * Parses argv against the spec. Throws CliError (usage) for an unknown option, a missing value,
 * an unsupported option or a wrong operand count. --help and --version are returned as long
 * options for runTool to handle.
 */
export function parseArgs(spec: ToolSpec, argv: string[]): Options {
  const known = letters(spec);
  const opts = new Options();
  const longs: Record<string, 'flag' | 'value'> = { help: 'flag', version: 'flag', ...spec.long };
  let i = 0;
  let onlyOperands = false;
  while (i < argv.length) {
    const arg = argv[i++]!;
    if (onlyOperands || arg === '-' || !arg.startsWith('-')) {
      opts.operands.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyOperands = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const kind = longs[name];
      if (kind === undefined) throw usageError(`unrecognized option '--${name}'`);
      if (kind === 'flag') {
        if (eq >= 0) throw usageError(`option '--${name}' doesn't allow an argument`);
        opts.addLong(name, true);
      } else if (eq >= 0) opts.addLong(name, arg.slice(eq + 1));
      else {
        if (i >= argv.length) throw usageError(`option '--${name}' requires an argument`);
        opts.addLong(name, argv[i++]!);
      }
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      const refusal = spec.unsupported?.[c];
      if (refusal !== undefined) throw usageError(`-${c}: ${refusal}`);
      const l = known.get(c);
      if (l === undefined) throw usageError(`invalid option -- '${c}'`);
      if (!l.takesValue) {
        opts.add(c);
        continue;
      }
      let value: string;
      if (j + 1 < arg.length) value = arg.slice(j + 1);
      else if (i < argv.length) value = argv[i++]!;
      else throw usageError(`option requires an argument -- '${c}'`);
      opts.add(c, value);
      break;
    }
  }
  if (opts.long('help') === undefined && opts.long('version') === undefined && !opts.has('V')) {
    const min = spec.operands?.min ?? 0;
    const max = spec.operands?.max ?? 0;
    const what = spec.operands?.name ?? 'operand';
    if (opts.operands.length < min) throw usageError(`missing ${what}`);
    if (opts.operands.length > max) throw usageError(max === 0 ? `unexpected argument '${opts.operands[0]}'` : `too many ${what}s`);
  }
  return opts;
}

export function usageText(spec: ToolSpec): string {
  return spec.usage.map((u, i) => (i === 0 ? `usage: ${u}` : `       ${u}`)).join('\n') + '\n';
}

export function helpText(spec: ToolSpec): string {
  const body = spec.help.endsWith('\n') ? spec.help : `${spec.help}\n`;
  return `${usageText(spec)}\n${body}`;
}

export function versionText(spec: ToolSpec): string {
  return `${spec.name} (cairn ${VERSION}; Berkeley DB 5.3 utility conventions)\n`;
}

/** One line describing an error: CairnError messages already say what failed and what to do. */
export function describeError(e: unknown): string {
  if (e instanceof CliError || e instanceof CairnError) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err === 'object' && typeof err.code === 'string' && typeof err.message === 'string') {
    return `${err.message}${err.code === 'EACCES' || err.code === 'EPERM' ? '; check the permissions' : ''}`;
  }
  return `internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

/** Prints `prog: message` on stderr, one line per line of the message. */
export function printError(io: CliIo, name: string, message: string): void {
  for (const line of message.split('\n')) io.err(`${name}: ${line}\n`);
}

export interface ToolContext {
  io: CliIo;
  spec: ToolSpec;
  /** Prints `prog: message` on stderr (for verbose / warning lines). */
  warn(message: string): void;
}

/**
 * Runs a tool body with the shared conventions. The body returns the exit status (or nothing
 * for 0); it throws CliError / CairnError for failures.
 */
export async function runTool(
  spec: ToolSpec,
  argv: string[],
  io: CliIo,
  body: (opts: Options, ctx: ToolContext) => Promise<number | void> | number | void,
): Promise<number> {
  const usageExit = spec.usageExit ?? 1;
  const errorExit = spec.errorExit ?? 1;
  let opts: Options;
  try {
    opts = parseArgs(spec, argv);
  } catch (e) {
    printError(io, programName(spec.name), describeError(e));
    io.err(usageText(spec));
    return usageExit;
  }
  if (opts.long('help') !== undefined) {
    io.out(helpText(spec));
    return 0;
  }
  if (opts.long('version') !== undefined || (opts.has('V') && letters(spec).has('V'))) {
    io.out(versionText(spec));
    return 0;
  }
  const ctx: ToolContext = { io, spec, warn: (m) => printError(io, programName(spec.name), m) };
  try {
    const status = (await body(opts, ctx)) ?? 0;
    // A write that failed reports EPIPE on a later tick: let it arrive before choosing the status.
    await new Promise((resolve) => setImmediate(resolve));
    return outputClosed() ? 141 : status;
  } catch (e) {
    if (e instanceof OutputClosed) return 141;
    try {
      printError(io, programName(spec.name), describeError(e));
    } catch (e2) {
      if (e2 instanceof OutputClosed) return 141;
      throw e2;
    }
    if (e instanceof CliError && e.usage) {
      io.err(usageText(spec));
      return e.exitCode ?? usageExit;
    }
    return e instanceof CliError && e.exitCode !== undefined ? e.exitCode : errorExit;
  }
}

// ---- the home directory ------------------------------------------------------------------------

/** -h, else $DB_HOME, else the current directory; absolute. */
export function homeOf(opts: Options, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(opts.value('h') ?? env.DB_HOME ?? '.');
}

/** What is at `home`: checked without changing anything on disk. */
export interface HomeInfo {
  home: string;
  /** It has a control file. */
  hasControl: boolean;
  /** It has log files in the home itself (a DB_CONFIG set_lg_dir may put them elsewhere). */
  hasLogs: boolean;
  hasConfig: boolean;
}

/**
 * Checks that `home` is an existing directory holding a cairn environment (a control file, or
 * log files of a copy never recovered). Throws a usage CliError naming what is wrong.
 */
export function requireEnvironment(home: string, opts: { allowLogsOnly?: boolean } = {}): HomeInfo {
  let st: fs.Stats;
  try {
    st = fs.statSync(home);
  } catch {
    throw usageError(`environment home ${home} does not exist; give the environment directory with -h (or $DB_HOME)`);
  }
  if (!st.isDirectory()) throw usageError(`environment home ${home} is not a directory; give the environment directory with -h`);
  const hasControl = fs.existsSync(path.join(home, CONTROL_FILE));
  const hasConfig = fs.existsSync(path.join(home, 'DB_CONFIG'));
  let hasLogs = listLogFiles(nodeVfs, home).length > 0;
  let logDir = home;
  if (!hasLogs && hasConfig) {
    // set_lg_dir: look there too, as the engine will (src/recovery/layout.ts).
    logDir = readLayout(nodeVfs, home).logDir;
    if (logDir !== home) hasLogs = listLogFiles(nodeVfs, logDir).length > 0;
  }
  if (!hasControl && !(opts.allowLogsOnly && hasLogs)) {
    // F18: logs of another environment are no copy to recover (that would make a clone of it).
    const why = !hasLogs
      ? `no ${CONTROL_FILE} and no log files`
      : foreignLogs(nodeVfs, { home, logDir })
        ? `it has no ${CONTROL_FILE}, and its log directory ${logDir} (set_lg_dir in DB_CONFIG) holds another environment's logs; give it its own log directory`
        : `it has log files but no ${CONTROL_FILE} (a copy never recovered): run db_recover -c -h ${home} first`;
    throw usageError(`${home} is not a cairn environment (${why})`);
  }
  return { home, hasControl, hasLogs, hasConfig };
}

/** The live owner of an environment, if any (another process holding it open). */
export function liveOwner(home: string): { pid: number } | undefined {
  let owner;
  try {
    owner = readOwner(nodeVfs, home);
  } catch {
    return undefined;
  }
  return owner?.alive ? { pid: owner.pid } : undefined;
}

// ---- values ------------------------------------------------------------------------------------

/** Parses a non-negative integer option value; Berkeley DB's wording on failure. */
export function parseCount(letter: string, text: string, range: { min?: number; max?: number } = {}): number {
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(text.trim())) throw usageError(`-${letter} ${text}: Invalid numeric argument`);
  const n = Number(text.trim());
  if (n < min || n > max) throw usageError(`-${letter} ${text}: must be from ${min} to ${max}`);
  return n;
}

/** ctime(3) without the newline, local time (util/time.ts; the tools import it from here). */
export { ctime } from '../util/time.js';

/** Writes one JSON document and a newline (for --json). */
export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}
