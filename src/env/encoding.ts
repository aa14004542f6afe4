// Key and value encodings of a database handle (`env.openDatabase(file, { keyEncoding,
// valueEncoding })`). The B-tree stores and orders bytes (memcmp); an encoding turns the
// caller's values into those bytes and back. 'ordered' keys are encoded so that memcmp order is
// the order of the values themselves (docs/FORMAT.md §Ordered key encoding), as lmdb-js's
// ordered-binary does: `db.range({ gte: [user, 0], lt: [user, Infinity] })` then selects one
// user's keys. An encoding is a property of the handle, not of the file: the bytes stored are
// what the encoding produced, and a handle opened with another encoding reads them as its own
// encoding decodes them (a stored key or value that does not decode is an ENCODING error).

import { isUtf8 } from 'node:buffer';
import { CairnError, invalid } from '../util/errors.js';

/** Converts values of type T to the bytes stored and back. */
export interface Encoding<T> {
  /** The bytes to store for `value`; throws a CairnError (INVALID_ARGUMENT) for a value it cannot encode. */
  encode(value: T): Buffer;
  /** The value of stored bytes; throws a CairnError (ENCODING) when they are not an encoding of a T. */
  decode(bytes: Buffer): T;
}

/** A key of the 'ordered' encoding: sorts null < false < true < numbers < strings < arrays; arrays element by element. */
export type OrderedKey = null | boolean | number | string | readonly OrderedKey[];

/** The built-in key encodings: 'binary' (bytes as given; the default), 'utf8' (strings), 'ordered' (OrderedKey). */
export type KeyEncodingName = 'binary' | 'utf8' | 'ordered';
/** The built-in value encodings: 'binary' (bytes as given; the default), 'utf8' (strings), 'json' (JSON.stringify / JSON.parse). */
export type ValueEncodingName = 'binary' | 'utf8' | 'json';

/** A lone UTF-16 surrogate has no UTF-8 form: Buffer.from would store U+FFFD in its place. */
const LONE_SURROGATE = /\p{Surrogate}/u;

function checkString(v: string, what: string): void {
  if (LONE_SURROGATE.test(v)) throw invalid(`${what} holds a lone UTF-16 surrogate, which has no UTF-8 form`);
}

function undecodable(what: string): CairnError {
  return new CairnError('ENCODING', `a stored ${what}; open the database with the encoding it was written with`);
}

const utf8: Encoding<string> = {
  encode(value: string): Buffer {
    if (typeof value !== 'string') throw invalid(`the utf8 encoding takes strings, got ${value === null ? 'null' : typeof value}`);
    checkString(value, 'a utf8 string');
    return Buffer.from(value, 'utf8');
  },
  decode(bytes: Buffer): string {
    if (!isUtf8(bytes)) throw undecodable('key or value is not UTF-8');
    return bytes.toString('utf8');
  },
};

const json: Encoding<unknown> = {
  encode(value: unknown): Buffer {
    const text = JSON.stringify(value);
    if (text === undefined) throw invalid(`the json encoding cannot store ${typeof value}`);
    return Buffer.from(text, 'utf8');
  },
  decode(bytes: Buffer): unknown {
    if (!isUtf8(bytes)) throw undecodable('value is not UTF-8 JSON');
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      throw undecodable('value is not JSON');
    }
  },
};

// ---- ordered keys (docs/FORMAT.md §Ordered key encoding) ---------------------------------------

const END = 0x00;
const NULL = 0x01;
const FALSE = 0x02;
const TRUE = 0x03;
const NUMBER = 0x04;
const STRING = 0x05;
const ARRAY = 0x06;
/** Nesting deeper than this is refused both ways (bounded recursion on crafted keys). */
const MAX_DEPTH = 64;

function encodeInto(out: number[], v: OrderedKey, depth: number, terminate: boolean): void {
  if (v === null) out.push(NULL);
  else if (v === false) out.push(FALSE);
  else if (v === true) out.push(TRUE);
  else if (typeof v === 'number') {
    if (Number.isNaN(v)) throw invalid('an ordered key cannot hold NaN (it has no place in the order)');
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(v === 0 ? 0 : v); // -0 and 0 are one key
    if (b[0]! & 0x80) for (let i = 0; i < 8; i++) b[i] = ~b[i]! & 0xff;
    else b[0]! |= 0x80;
    out.push(NUMBER, ...b);
  } else if (typeof v === 'string') {
    checkString(v, 'an ordered key');
    out.push(STRING);
    for (const byte of Buffer.from(v, 'utf8')) {
      if (byte === 0x00) out.push(0x00, 0x01);
      else out.push(byte);
    }
    if (terminate) out.push(0x00, 0x00);
  } else if (Array.isArray(v)) {
    if (depth >= MAX_DEPTH) throw invalid(`an ordered key nests arrays deeper than ${MAX_DEPTH}`);
    out.push(ARRAY);
    for (const e of v as readonly OrderedKey[]) encodeInto(out, e, depth + 1, true);
    if (terminate) out.push(END);
  } else {
    throw invalid(`an ordered key holds null, booleans, numbers, strings and arrays of them, got ${typeof v}`);
  }
}

/** The bytes of an ordered key. */
export function encodeOrdered(v: OrderedKey): Buffer {
  const out: number[] = [];
  encodeInto(out, v, 0, true);
  return Buffer.from(out);
}

/**
 * The bytes every encoding of a key that starts like `v` starts with: a string without its
 * terminator (keys that are strings starting with it), an array without its end (arrays whose
 * first elements are these). The `prefix` option of `range` on an 'ordered' database.
 */
export function encodeOrderedPrefix(v: OrderedKey): Buffer {
  const out: number[] = [];
  encodeInto(out, v, 0, false);
  return Buffer.from(out);
}

function decodeAt(b: Buffer, at: { i: number }, depth: number): OrderedKey {
  if (at.i >= b.length) throw undecodable('key is cut short for the ordered encoding');
  const tag = b[at.i++]!;
  switch (tag) {
    case NULL:
      return null;
    case FALSE:
      return false;
    case TRUE:
      return true;
    case NUMBER: {
      if (at.i + 8 > b.length) throw undecodable('key is cut short for the ordered encoding');
      const n = Buffer.from(b.subarray(at.i, at.i + 8));
      at.i += 8;
      if (n[0]! & 0x80) n[0]! &= 0x7f;
      else for (let i = 0; i < 8; i++) n[i] = ~n[i]! & 0xff;
      const v = n.readDoubleBE(0);
      if (Number.isNaN(v)) throw undecodable('key holds NaN, which the ordered encoding never writes');
      return v;
    }
    case STRING: {
      const bytes: number[] = [];
      for (;;) {
        if (at.i >= b.length) throw undecodable('key has an unterminated string for the ordered encoding');
        const c = b[at.i++]!;
        if (c !== 0x00) {
          bytes.push(c);
          continue;
        }
        const e = b[at.i++];
        if (e === 0x00) break;
        if (e !== 0x01) throw undecodable('key has a bad escape in a string for the ordered encoding');
        bytes.push(0x00);
      }
      const text = Buffer.from(bytes);
      if (!isUtf8(text)) throw undecodable('key has a string that is not UTF-8');
      return text.toString('utf8');
    }
    case ARRAY: {
      if (depth >= MAX_DEPTH) throw undecodable(`key nests arrays deeper than ${MAX_DEPTH}`);
      const items: OrderedKey[] = [];
      for (;;) {
        if (at.i >= b.length) throw undecodable('key has an unterminated array for the ordered encoding');
        if (b[at.i] === END) {
          at.i++;
          return items;
        }
        items.push(decodeAt(b, at, depth + 1));
      }
    }
    default:
      throw undecodable(`key has type byte 0x${tag.toString(16).padStart(2, '0')}, which the ordered encoding never writes`);
  }
}

/** The ordered key of stored bytes. */
export function decodeOrdered(b: Buffer): OrderedKey {
  const at = { i: 0 };
  const v = decodeAt(b, at, 0);
  if (at.i !== b.length) throw undecodable('key has bytes after its end for the ordered encoding');
  return v;
}

const ordered: Encoding<OrderedKey> = { encode: encodeOrdered, decode: decodeOrdered };

/**
 * The encoding an option names, or undefined for 'binary' (bytes are stored as given, with no
 * conversion on the hot path).
 */
export function resolveEncoding<T>(spec: string | Encoding<T> | undefined, kind: 'key' | 'value'): Encoding<T> | undefined {
  if (spec === undefined || spec === 'binary') return undefined;
  if (spec === 'utf8') return utf8 as unknown as Encoding<T>;
  if (spec === 'ordered' && kind === 'key') return ordered as unknown as Encoding<T>;
  if (spec === 'json' && kind === 'value') return json as Encoding<T>;
  if (typeof spec === 'object' && spec !== null && typeof spec.encode === 'function' && typeof spec.decode === 'function') return spec;
  const names = kind === 'key' ? "'binary', 'utf8', 'ordered'" : "'binary', 'utf8', 'json'";
  throw invalid(`${kind}Encoding must be one of ${names} or an object with encode and decode, got ${typeof spec === 'string' ? `'${spec}'` : typeof spec}`);
}

/** Whether the encoding is the built-in ordered one (its `prefix` bound drops the terminator). */
export function isOrdered(e: Encoding<unknown> | undefined): boolean {
  return e === (ordered as Encoding<unknown>);
}
