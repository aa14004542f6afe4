// The header block of a Berkeley DB 5.3 dump (src/dump/FORMAT.md §2): the model, the printer,
// the keyword table shared by the input header and db_load -c, and -c / -t resolution.
//
// db_dump (__db_prheader) prints, in this order and only when the condition holds:
//
//   VERSION=3                     always
//   format=bytevalue|print        always
//   database=<name>               subdatabase blocks; the name in print encoding
//   type=btree|hash|recno|queue   always
//   recnum=1                      btree DB_RECNUM
//   bt_minkey=N                   btree, N not 0 and not 2
//   h_ffactor=N                   hash, N not 0
//   h_nelem=N                     hash, N > 1
//   renumber=1                    recno DB_RENUMBER
//   re_len=N                      queue always, recno with fixed-length records
//   re_pad=0xNN                   queue / fixed recno, pad not 0 and not ' ' (C "%#x")
//   extentsize=N                  queue, N not 0
//   chksum=1 duplicates=1 dupsort=1 compressed=1
//   db_pagesize=N                 unless the page size is the library default
//   keys=1                        db_dump -k
//   HEADER=END

import { CairnError } from '../util/errors.js';
import { encodePrint, type DumpFormat } from './codec.js';

export type DumpType = 'btree' | 'hash' | 'recno' | 'queue';
export const DUMP_TYPES: readonly DumpType[] = ['btree', 'hash', 'recno', 'queue'];

export interface DumpHeader {
  version: 3;
  format: DumpFormat;
  type: DumpType;
  /** Subdatabase name (UTF-8); printed only when set. `db_dump -s` dumps omit it. */
  database?: string;
  /** keys=1: data lines alternate key and data even for recno/queue (db_dump -k). */
  keys?: boolean;
  duplicates?: boolean;
  dupsort?: boolean;
  recnum?: boolean;
  renumber?: boolean;
  extentsize?: number;
  reLen?: number;
  /** The pad byte (0..255). Printed as re_pad=0xNN; read back from 0xNN or a single character. */
  rePad?: number;
  hFfactor?: number;
  hNelem?: number;
  dbPagesize?: number;
  bMinkey?: number;
  chksum?: boolean;
  /**
   * Header keywords db_load knows that have no field above, in input order: `compressed`
   * (printed by db_dump between dupsort=1 and db_pagesize=) and `db_lorder` (accepted by
   * db_load, never printed by db_dump; formatHeader prints it right after compressed).
   */
  extra: Array<[string, string]>;
}

/** Keywords that may appear in DumpHeader.extra. */
export const EXTRA_KEYWORDS: readonly string[] = ['compressed', 'db_lorder'];

/** Keywords accepted both in the input header and as db_load -c name=value. */
export const CONFIG_KEYWORDS: readonly string[] = [
  'bt_minkey', 'chksum', 'db_lorder', 'db_pagesize', 'duplicates', 'dupsort', 'extentsize',
  'h_ffactor', 'h_nelem', 're_len', 're_pad', 'recnum', 'renumber', 'compressed',
];

/** Keywords accepted only as db_load -c name=value, besides CONFIG_KEYWORDS. */
export const OVERRIDE_ONLY_KEYWORDS: readonly string[] = ['database', 'subdatabase', 'keys'];

const U32_MAX = 0xffffffff;
const MIN_PAGESIZE = 512;
const MAX_PAGESIZE = 65536;

/** A db_load -c name=value that cannot be applied. Not tied to an input line. */
export class DumpOverrideError extends CairnError {
  readonly override: string;
  constructor(override: string, detail: string) {
    super('INVALID_ARGUMENT', `-c ${override}: ${detail}`);
    this.override = override;
    this.name = 'DumpOverrideError';
  }
}

export function isRecordNumbered(type: DumpType): boolean {
  return type === 'recno' || type === 'queue';
}

/** True when the data lines of a section alternate key and data. */
export function hasKeyLines(header: DumpHeader): boolean {
  return !isRecordNumbered(header.type) || header.keys === true;
}

export function cloneHeader(header: DumpHeader): DumpHeader {
  return { ...header, extra: header.extra.map(([name, value]): [string, string] => [name, value]) };
}

// ---- value checks, shared by the parser, -c and formatHeader --------------------------------

type NumberField = 'bMinkey' | 'extentsize' | 'hFfactor' | 'hNelem' | 'reLen' | 'dbPagesize';
type FlagField = 'chksum' | 'duplicates' | 'dupsort' | 'recnum' | 'renumber';

const NUMBER_KEYWORDS: Record<string, NumberField> = {
  bt_minkey: 'bMinkey',
  extentsize: 'extentsize',
  h_ffactor: 'hFfactor',
  h_nelem: 'hNelem',
  re_len: 'reLen',
  db_pagesize: 'dbPagesize',
};

const FLAG_KEYWORDS: Record<string, FlagField> = {
  chksum: 'chksum',
  duplicates: 'duplicates',
  dupsort: 'dupsort',
  recnum: 'recnum',
  renumber: 'renumber',
};

/** Why `n` is not a valid value for the numeric field, or undefined. */
function numberProblem(field: NumberField, n: number): string | undefined {
  if (!Number.isInteger(n) || n < 0 || n > U32_MAX) return `must be an integer from 0 to ${U32_MAX}`;
  if (field === 'bMinkey' && n < 2) return 'bt_minkey must be at least 2';
  if (field === 'dbPagesize' && (n < MIN_PAGESIZE || n > MAX_PAGESIZE || (n & (n - 1)) !== 0)) {
    return `page size must be a power of two from ${MIN_PAGESIZE} to ${MAX_PAGESIZE}`;
  }
  return undefined;
}

function padProblem(n: number): string | undefined {
  return Number.isInteger(n) && n >= 0 && n <= 0xff ? undefined : 're_pad must be a byte value 0..0xff';
}

function databaseProblem(name: string): string | undefined {
  return name.includes('\0') ? 'a database name cannot contain a NUL byte' : undefined;
}

/** re_pad as db_dump prints it ("0x2e"), or one character as db_load -c re_pad=. takes it. */
function parsePad(value: string): number | string {
  const hex = /^0x([0-9a-fA-F]{1,8})$/.exec(value);
  if (hex !== null) {
    const n = parseInt(hex[1]!, 16);
    if (n <= 0xff) return n;
    if (n >= 0xffffff80) return n & 0xff; // a sign-extended char, as %#x prints a negative pad
    return 're_pad must be a byte value 0x0..0xff';
  }
  if (value.length === 1 && value.charCodeAt(0) <= 0x7e) return value.charCodeAt(0);
  return 're_pad must be a single character or 0xNN';
}

function parseLorder(value: string): string | undefined {
  return value === '0' || value === '1234' || value === '4321'
    ? undefined
    : 'db_lorder must be 1234 (little-endian), 4321 (big-endian) or 0 (host order)';
}

function setExtra(header: DumpHeader, name: string, value: string | undefined): void {
  const at = header.extra.findIndex(([n]) => n === name);
  if (value === undefined) {
    if (at >= 0) header.extra.splice(at, 1);
  } else if (at >= 0) {
    header.extra[at] = [name, value];
  } else {
    header.extra.push([name, value]);
  }
}

/** A parsed configuration keyword: a change to a header. */
export type HeaderChange = (header: DumpHeader) => void;

/**
 * Parses one configuration keyword (CONFIG_KEYWORDS) and its value. Returns the change to
 * apply, a one-line problem description ("page size must be ..."), or undefined when `name`
 * is not a configuration keyword at all.
 */
export function parseConfig(name: string, value: string): HeaderChange | string | undefined {
  if (!CONFIG_KEYWORDS.includes(name)) return undefined;
  if (value === '') return 'empty value';
  const flag = FLAG_KEYWORDS[name];
  if (flag !== undefined || name === 'compressed') {
    if (value !== '0' && value !== '1') return 'boolean name=value pairs require a value of 0 or 1';
    const on = value === '1';
    if (flag !== undefined) return (h) => void (h[flag] = on);
    return (h) => setExtra(h, 'compressed', on ? '1' : undefined);
  }
  const field = NUMBER_KEYWORDS[name];
  if (field !== undefined) {
    if (!/^[0-9]+$/.test(value)) return 'not a decimal number';
    const n = Number(value);
    const problem = numberProblem(field, n);
    if (problem !== undefined) return problem;
    return (h) => void (h[field] = n);
  }
  if (name === 're_pad') {
    const pad = parsePad(value);
    if (typeof pad === 'string') return pad;
    return (h) => void (h.rePad = pad);
  }
  const problem = parseLorder(value);
  if (problem !== undefined) return problem;
  return (h) => setExtra(h, 'db_lorder', String(Number(value)));
}

// ---- printing ----------------------------------------------------------------------------------

function invalidHeader(detail: string): CairnError {
  return new CairnError('INVALID_ARGUMENT', `invalid dump header: ${detail}`);
}

function validateHeader(h: DumpHeader): void {
  if (h.version !== 3) throw invalidHeader(`VERSION ${String(h.version)} (only 3 is written)`);
  if (h.format !== 'bytevalue' && h.format !== 'print') throw invalidHeader(`format ${String(h.format)}`);
  if (!DUMP_TYPES.includes(h.type)) throw invalidHeader(`type ${String(h.type)}`);
  if (h.database !== undefined) {
    const problem = databaseProblem(h.database);
    if (problem !== undefined) throw invalidHeader(problem);
  }
  for (const [keyword, field] of Object.entries(NUMBER_KEYWORDS)) {
    const n = h[field];
    if (n === undefined) continue;
    // Values db_dump leaves out are not checked against the keyword's minimum.
    if (field === 'bMinkey' && n === 0) continue;
    const problem = numberProblem(field, n);
    if (problem !== undefined) throw invalidHeader(`${keyword}=${n}: ${problem}`);
  }
  if (h.rePad !== undefined && padProblem(h.rePad) !== undefined) throw invalidHeader(`re_pad=${h.rePad}`);
  for (const [name, value] of h.extra) {
    if (!EXTRA_KEYWORDS.includes(name)) throw invalidHeader(`extra keyword "${name}" is not one db_load accepts`);
    const change = parseConfig(name, value);
    if (typeof change !== 'function') throw invalidHeader(`${name}=${value}: ${change ?? 'unknown'}`);
  }
}

/**
 * The header block, `VERSION=3\n` … `HEADER=END\n`, exactly as db_dump 5.3 prints it: fixed
 * keyword order, and values that db_dump leaves out (bt_minkey 2, h_nelem 0 or 1, h_ffactor 0,
 * re_pad 0 or space, extentsize 0, false flags) are left out. Throws INVALID_ARGUMENT for a
 * header db_load would reject.
 */
export function formatHeader(h: DumpHeader): string {
  validateHeader(h);
  let out = `VERSION=3\nformat=${h.format}\n`;
  if (h.database !== undefined) out += `database=${encodePrint(Buffer.from(h.database, 'utf8'))}\n`;
  out += `type=${h.type}\n`;
  if (h.recnum === true) out += 'recnum=1\n';
  if (h.bMinkey !== undefined && h.bMinkey !== 0 && h.bMinkey !== 2) out += `bt_minkey=${h.bMinkey}\n`;
  if (h.hFfactor !== undefined && h.hFfactor !== 0) out += `h_ffactor=${h.hFfactor}\n`;
  if (h.hNelem !== undefined && h.hNelem > 1) out += `h_nelem=${h.hNelem}\n`;
  if (h.renumber === true) out += 'renumber=1\n';
  if (h.reLen !== undefined) out += `re_len=${h.reLen}\n`;
  if (h.rePad !== undefined && h.rePad !== 0 && h.rePad !== 0x20) out += `re_pad=0x${h.rePad.toString(16)}\n`;
  if (h.extentsize !== undefined && h.extentsize !== 0) out += `extentsize=${h.extentsize}\n`;
  if (h.chksum === true) out += 'chksum=1\n';
  if (h.duplicates === true) out += 'duplicates=1\n';
  if (h.dupsort === true) out += 'dupsort=1\n';
  const extras = [...h.extra].sort(([a], [b]) => EXTRA_KEYWORDS.indexOf(a) - EXTRA_KEYWORDS.indexOf(b));
  for (const [name, value] of extras) {
    if (name === 'compressed' && value === '0') continue;
    out += `${name}=${value}\n`;
  }
  if (h.dbPagesize !== undefined) out += `db_pagesize=${h.dbPagesize}\n`;
  if (h.keys === true) out += 'keys=1\n';
  return out + 'HEADER=END\n';
}

// ---- db_load -c and -t -------------------------------------------------------------------------

type Override =
  | { kind: 'database'; name: string }
  | { kind: 'keys'; on: boolean }
  | { kind: 'config'; change: HeaderChange };

/** Parses one db_load -c name=value setting; throws DumpOverrideError. */
function parseOverride(setting: string): Override {
  const eq = setting.indexOf('=');
  if (eq < 0) throw new DumpOverrideError(setting, 'command-line configuration uses name=value format');
  const name = setting.slice(0, eq);
  const value = setting.slice(eq + 1);
  if (name === 'database' || name === 'subdatabase') {
    const problem = databaseProblem(value);
    if (problem !== undefined) throw new DumpOverrideError(setting, problem);
    return { kind: 'database', name: value };
  }
  if (name === 'keys') {
    if (value !== '0' && value !== '1') {
      throw new DumpOverrideError(setting, 'boolean name=value pairs require a value of 0 or 1');
    }
    return { kind: 'keys', on: value === '1' };
  }
  const change = parseConfig(name, value);
  if (change === undefined) {
    throw new DumpOverrideError(setting, `unknown command-line configuration keyword "${name}"`);
  }
  if (typeof change === 'string') throw new DumpOverrideError(setting, change);
  return { kind: 'config', change };
}

/**
 * Applies db_load `-c name=value` settings to a header read from a dump, in order (a later
 * setting wins, and every setting wins over the file). Names: CONFIG_KEYWORDS plus `database`
 * (alias `subdatabase`, taken literally, not print-decoded) and `keys`. `keys` changes nothing:
 * as in db_load it only asserts what the file says (keys=1 needs keys=1 in the file, keys=0
 * needs a file without keys, and btree/hash always have keys). Returns a new header.
 */
export function applyOverrides(header: DumpHeader, overrides: readonly string[]): DumpHeader {
  const out = cloneHeader(header);
  let keysSetting: { setting: string; on: boolean } | undefined;
  for (const setting of overrides) {
    const parsed = parseOverride(setting);
    if (parsed.kind === 'database') out.database = parsed.name;
    else if (parsed.kind === 'keys') keysSetting = { setting, on: parsed.on };
    else parsed.change(out);
  }
  if (keysSetting !== undefined) {
    const { setting, on } = keysSetting;
    if (on && header.keys !== true) throw new DumpOverrideError(setting, 'no keys specified in file (no keys=1 line)');
    if (!on && header.keys === true) throw new DumpOverrideError(setting, 'keys specified in file (keys=1 line)');
    if (!on && !isRecordNumbered(header.type)) {
      throw new DumpOverrideError(setting, 'btree and hash must specify keys');
    }
  }
  return out;
}

/** Checks -c settings (syntax, names, values) before any header is read. */
export function checkOverrides(overrides: readonly string[]): void {
  for (const setting of overrides) parseOverride(setting);
}

export interface LoadOptions {
  /** db_load -t: load as this type instead of the header's. */
  type?: DumpType;
  /** db_load -c name=value settings, applied after the file header. */
  overrides?: readonly string[];
}

/**
 * The header a loader should use for one section: the file header with -c settings applied,
 * then the -t type. btree<->hash and recno<->queue are always allowed. recno/queue -> btree/hash
 * needs a dump with keys=1 (the keys are then the ASCII record numbers); btree/hash ->
 * recno/queue reads the keys as record numbers and so sets keys=true.
 */
export function effectiveHeader(file: DumpHeader, options: LoadOptions = {}): DumpHeader {
  const header = applyOverrides(file, options.overrides ?? []);
  const target = options.type;
  if (target === undefined || target === header.type) return header;
  if (isRecordNumbered(header.type) && !isRecordNumbered(target) && header.keys !== true) {
    throw new CairnError(
      'INVALID_ARGUMENT',
      `improper database type conversion specified: a ${header.type} dump without keys cannot be loaded ` +
        `as ${target} (dump it with db_dump -k)`,
    );
  }
  if (!isRecordNumbered(header.type) && isRecordNumbered(target)) header.keys = true;
  header.type = target;
  return header;
}
