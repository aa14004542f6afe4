// Item encodings of the Berkeley DB 5.3 dump format (src/dump/FORMAT.md §3).
//
//   data line  := ' ' item '\n'
//   bytevalue  := ( [0-9a-f] [0-9a-f] )*          two lower-case hex digits per byte
//   print      := ( char | '\\\\' | '\\' hex hex )*  char = 0x20..0x7e except '\'
//   text (-T)  := ( byte | '\\\\' | '\\' hex hex )*  byte = anything except '\n' and '\'
//
// Encoders produce exactly what db_dump writes (__db_prdbt). Decoders are strict: anything
// db_dump would never write is a DumpFormatError, where db_load 5.3 silently mis-decodes
// (upper-case hex, non-hex characters, odd digit counts, stray backslashes).

import { CairnError } from '../util/errors.js';

export type DumpFormat = 'bytevalue' | 'print';

/** Highest record number of a recno/queue database (db_recno_t is 32 bits). */
export const RECNO_MAX = 0xffffffff;

const BACKSLASH = 0x5c;
const SPACE = 0x20;
const TILDE = 0x7e;
const CR = 0x0d;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** Value of each lower-case hex digit, -1 for every other byte. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE[HEX_DIGITS[i]!] = i;

/** Malformed dump input. The message is one line: `line N: what is wrong`. */
export class DumpFormatError extends CairnError {
  readonly line: number;
  readonly detail: string;
  constructor(line: number, detail: string) {
    super('INVALID_ARGUMENT', `line ${line}: ${detail}`);
    this.line = line;
    this.detail = detail;
    this.name = 'DumpFormatError';
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isPrintable(byte: number): boolean {
  return byte >= SPACE && byte <= TILDE;
}

/** format=bytevalue item: each byte as two lower-case hex digits. */
export function encodeBytevalue(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('hex');
}

/** format=print item: printable ASCII as is, `\` as `\\`, every other byte as `\hh`. */
export function encodePrint(bytes: Uint8Array): string {
  const input = asBuffer(bytes);
  let plain = true;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === BACKSLASH || !isPrintable(c)) {
      plain = false;
      break;
    }
  }
  if (plain) return input.toString('latin1');
  const out = Buffer.allocUnsafe(input.length * 3);
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === BACKSLASH) {
      out[o++] = BACKSLASH;
      out[o++] = BACKSLASH;
    } else if (isPrintable(c)) {
      out[o++] = c;
    } else {
      out[o++] = BACKSLASH;
      out[o++] = HEX_DIGITS[c >> 4]!;
      out[o++] = HEX_DIGITS[c & 15]!;
    }
  }
  return out.toString('latin1', 0, o);
}

export function encodeItem(bytes: Uint8Array, format: DumpFormat): string {
  return format === 'print' ? encodePrint(bytes) : encodeBytevalue(bytes);
}

/** Renders bytes for an error message: print encoding, cut to `max` characters, quoted. */
export function showBytes(bytes: Uint8Array, max = 40): string {
  const shown = encodePrint(bytes.length > max ? bytes.subarray(0, max) : bytes);
  return `"${shown}${bytes.length > max ? '...' : ''}"`;
}

/** Appended to a message when the offending line ends in CR, the usual cause. */
export function crlfHint(line: Uint8Array): string {
  return line.length > 0 && line[line.length - 1] === CR ? ' (CRLF line ends are not supported)' : '';
}

function describeByte(byte: number): string {
  return isPrintable(byte) ? `"${String.fromCharCode(byte)}"` : `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * Decodes a bytevalue item: line[start, end) must be an even number of lower-case hex digits.
 * `role` names the item in messages ("key", "value"); columns are 1-based within the line.
 */
export function decodeBytevalue(line: Uint8Array, start: number, end: number, lineNo: number, role: string): Buffer {
  const count = end - start;
  const out = Buffer.allocUnsafe(count >> 1);
  for (let i = start, o = 0; i + 1 < end; i += 2, o++) {
    const hi = HEX_VALUE[line[i]!]!;
    const lo = HEX_VALUE[line[i + 1]!]!;
    if (hi < 0 || lo < 0) badHexDigit(line, hi < 0 ? i : i + 1, lineNo, role);
    out[o] = (hi << 4) | lo;
  }
  if (count % 2 !== 0) {
    if (HEX_VALUE[line[end - 1]!]! < 0) badHexDigit(line, end - 1, lineNo, role);
    throw new DumpFormatError(lineNo, `odd number of hex digits in ${role}`);
  }
  return out;
}

function badHexDigit(line: Uint8Array, index: number, lineNo: number, role: string): never {
  const byte = line[index]!;
  const upper = byte >= 0x41 && byte <= 0x46;
  const what = upper ? `upper-case hex digit ${describeByte(byte)}` : `invalid hex digit ${describeByte(byte)}`;
  throw new DumpFormatError(lineNo, `${what} at column ${index + 1} in ${role}${crlfHint(line)}`);
}

/**
 * Decodes a print-format item (`text` false) or a db_load -T line (`text` true). Both accept
 * `\\` and `\hh` (lower-case hex). Print items must otherwise be printable ASCII; -T lines may
 * hold any byte but a newline.
 */
export function decodeEscaped(
  line: Uint8Array,
  start: number,
  end: number,
  lineNo: number,
  role: string,
  text: boolean,
): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = line[i]!;
    if (c !== BACKSLASH) {
      if (!text && !isPrintable(c)) {
        const what = `unescaped ${describeByte(c)} at column ${i + 1} in ${role}`;
        throw new DumpFormatError(lineNo, `${what} (print format allows printable ASCII only)${crlfHint(line)}`);
      }
      out[o++] = c;
      continue;
    }
    if (i + 1 >= end) {
      throw new DumpFormatError(lineNo, `backslash at end of line in ${role}${crlfHint(line)}`);
    }
    if (line[i + 1] === BACKSLASH) {
      out[o++] = BACKSLASH;
      i += 1;
      continue;
    }
    const hi = HEX_VALUE[line[i + 1]!]!;
    const lo = i + 2 < end ? HEX_VALUE[line[i + 2]!]! : -1;
    if (hi < 0 || lo < 0) {
      const escape = line.subarray(i + 1, Math.min(i + 3, end));
      const what = `invalid escape "\\${encodePrint(escape)}" at column ${i + 1} in ${role}`;
      throw new DumpFormatError(lineNo, `${what} (expected \\\\ or \\ and two lower-case hex digits)${crlfHint(line)}`);
    }
    out[o++] = (hi << 4) | lo;
    i += 2;
  }
  return out.subarray(0, o);
}

export function isValidRecno(recno: number): boolean {
  return Number.isInteger(recno) && recno >= 1 && recno <= RECNO_MAX;
}

/**
 * The key form of a record number in dumps: its decimal digits in ASCII (record 12 is the
 * two bytes "12", printed ` 3132` in bytevalue and ` 12` in print format). This is also the
 * key a recno dump taken with -k gets when it is loaded as btree or hash.
 */
export function recnoToKey(recno: number): Buffer {
  if (!isValidRecno(recno)) {
    throw new CairnError('INVALID_ARGUMENT', `record number ${recno} is out of range 1..${RECNO_MAX}`);
  }
  return Buffer.from(String(recno), 'latin1');
}

/** Why `key` is not the dump form of a record number, or undefined when it is. */
export function recnoKeyProblem(key: Uint8Array): string | undefined {
  if (key.length === 0) return 'empty record number';
  if (key.length > 10) return `record number ${showBytes(key)} is out of range 1..${RECNO_MAX}`;
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c < 0x30 || c > 0x39) return `record number ${showBytes(key)} is not a decimal number`;
  }
  const recno = Number(asBuffer(key).toString('latin1'));
  if (!isValidRecno(recno)) return `record number ${recno} is out of range 1..${RECNO_MAX}`;
  return undefined;
}

/** Inverse of recnoToKey: ASCII decimal digits to a record number in 1..RECNO_MAX. */
export function keyToRecno(key: Uint8Array): number {
  const problem = recnoKeyProblem(key);
  if (problem !== undefined) throw new CairnError('INVALID_ARGUMENT', problem);
  return Number(asBuffer(key).toString('latin1'));
}
