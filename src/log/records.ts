// The log record table (docs/FORMAT.md §Log records). Declared once: the table drives encode,
// decode, db_printlog and the redo dispatch in recovery. Adding a record type means adding a
// row here and a redo handler in recovery/redo.ts (its handler table does not compile without
// one, and the registry test in env/recordtypes.test.ts fails until its recovery is tested).
//
// Field kinds, all little-endian:
//   u32   4 bytes unsigned
//   lsn   8 bytes: u32 file, u32 offset
//   time  8 bytes: float64 milliseconds since the epoch
//   bytes u32 length + bytes
//   str   u32 length + UTF-8 bytes

import { CairnError } from '../util/errors.js';
import { type Lsn, formatLsn, makeLsn, writeLsn } from '../util/lsn.js';

export type FieldKind = 'u32' | 'lsn' | 'time' | 'bytes' | 'str';

interface FieldTypes {
  u32: number;
  lsn: Lsn;
  time: number;
  bytes: Buffer;
  str: string;
}

export const RECORD_TABLE = {
  /** A whole page as it is after the change (the first change after a checkpoint, new pages). */
  page_image: { code: 1, fields: { txn: 'u32', file: 'u32', pgno: 'u32', image: 'bytes' } },
  /**
   * Byte ranges of a page: repeated (u32 offset, u32 length, bytes), applied onto the version
   * whose LSN is `prev`. A page found at another LSN means log is missing between (I7).
   */
  page_delta: { code: 2, fields: { txn: 'u32', file: 'u32', pgno: 'u32', prev: 'lsn', ranges: 'bytes' } },
  /** A data file created (its pages follow as page_image records of the same transaction). */
  file_create: { code: 3, fields: { txn: 'u32', file: 'u32', name: 'str', pageSize: 'u32' } },
  /** A data file removed when the transaction commits. */
  file_remove: { code: 4, fields: { txn: 'u32', file: 'u32', name: 'str' } },
  /** A data file renamed when the transaction commits. */
  file_rename: { code: 5, fields: { txn: 'u32', file: 'u32', name: 'str', newName: 'str' } },
  /**
   * The transaction's changes are complete. `durable` is how far the log was known durable
   * when this record was written: a bad record below it is corruption, not a torn tail (I6).
   */
  commit: { code: 6, fields: { txn: 'u32', time: 'time', durable: 'lsn' } },
  /** A completed checkpoint: normal recovery may start at `redo`. `files` is "uid name\n" lines. */
  checkpoint: { code: 7, fields: { redo: 'lsn', prev: 'lsn', time: 'time', durable: 'lsn', files: 'str' } },
} as const satisfies Record<string, { code: number; fields: Record<string, FieldKind> }>;

export type RecordName = keyof typeof RECORD_TABLE;
type Fields<N extends RecordName> = (typeof RECORD_TABLE)[N]['fields'];
export type RecordBody<N extends RecordName> = {
  -readonly [F in keyof Fields<N>]: Fields<N>[F] extends FieldKind ? FieldTypes[Fields<N>[F]] : never;
};
export type LogRecord = { [N in RecordName]: { type: N } & RecordBody<N> }[RecordName];

const byCode = new Map<number, RecordName>();
/** Each type's fields as [name, kind] pairs, in table order (computed once: decoding is hot in recovery). */
const fieldLists = new Map<RecordName, Array<[string, FieldKind]>>();
for (const [name, row] of Object.entries(RECORD_TABLE)) {
  byCode.set(row.code, name as RecordName);
  fieldLists.set(name as RecordName, Object.entries(row.fields) as Array<[string, FieldKind]>);
}

export function recordName(code: number): RecordName | undefined {
  return byCode.get(code);
}

function fieldSize(kind: FieldKind, value: unknown): number {
  switch (kind) {
    case 'u32':
      return 4;
    case 'lsn':
    case 'time':
      return 8;
    case 'bytes':
      return 4 + (value as Buffer).length;
    case 'str':
      return 4 + Buffer.byteLength(value as string);
  }
}

/** Encodes the record body: one type byte, then the fields in table order. */
export function encodeRecord(rec: LogRecord): Buffer {
  const fields = fieldLists.get(rec.type)!;
  const values = rec as unknown as Record<string, unknown>;
  let size = 1;
  for (const [f, kind] of fields) size += fieldSize(kind, values[f]);
  const buf = Buffer.allocUnsafe(size);
  buf[0] = RECORD_TABLE[rec.type].code;
  let at = 1;
  for (const [f, kind] of fields) {
    const v = values[f];
    switch (kind) {
      case 'u32':
        buf.writeUInt32LE(v as number, at);
        at += 4;
        break;
      case 'lsn':
        writeLsn(buf, at, v as number);
        at += 8;
        break;
      case 'time':
        buf.writeDoubleLE(v as number, at);
        at += 8;
        break;
      case 'bytes':
        buf.writeUInt32LE((v as Buffer).length, at);
        (v as Buffer).copy(buf, at + 4);
        at += 4 + (v as Buffer).length;
        break;
      case 'str': {
        const n = buf.write(v as string, at + 4, 'utf8');
        buf.writeUInt32LE(n, at);
        at += 4 + n;
        break;
      }
    }
  }
  return buf;
}

/** Bytes of a page_image body before the image: type, txn, file, pgno, image length. */
export const PAGE_IMAGE_FIXED = 17;
/** Bytes of a page_delta body before the ranges: type, txn, file, pgno, prev, ranges length. */
export const PAGE_DELTA_FIXED = 25;

/**
 * The page_image body encodeRecord makes, written into `dst` (at least PAGE_IMAGE_FIXED +
 * image.length bytes) instead of a fresh buffer: the commit path logs one image per new page,
 * and a fresh 4 KiB buffer costs more than the copy. Returns the body, a view of `dst`.
 */
export function pageImageBody(dst: Buffer, txn: number, file: number, pgno: number, image: Buffer): Buffer {
  dst[0] = RECORD_TABLE.page_image.code;
  dst.writeUInt32LE(txn, 1);
  dst.writeUInt32LE(file, 5);
  dst.writeUInt32LE(pgno, 9);
  dst.writeUInt32LE(image.length, 13);
  image.copy(dst, PAGE_IMAGE_FIXED);
  return dst.subarray(0, PAGE_IMAGE_FIXED + image.length);
}

/**
 * The page_delta body encodeRecord makes, around ranges the caller has already written into
 * `dst` at PAGE_DELTA_FIXED (diffInto does): writes the fixed fields in front of them and
 * returns the body, a view of `dst`.
 */
export function pageDeltaBody(dst: Buffer, txn: number, file: number, pgno: number, prev: Lsn, rangesLength: number): Buffer {
  dst[0] = RECORD_TABLE.page_delta.code;
  dst.writeUInt32LE(txn, 1);
  dst.writeUInt32LE(file, 5);
  dst.writeUInt32LE(pgno, 9);
  writeLsn(dst, 13, prev);
  dst.writeUInt32LE(rangesLength, 21);
  return dst.subarray(0, PAGE_DELTA_FIXED + rangesLength);
}

/** Bytes of a commit body: type, txn, time, durable. */
export const COMMIT_SIZE = 21;

/**
 * The commit body encodeRecord makes, written into `dst` (at least COMMIT_SIZE bytes): every
 * transaction ends with one, so the commit path encodes it without the table walk or a fresh
 * buffer. Returns the body, a view of `dst`.
 */
export function commitBody(dst: Buffer, txn: number, time: number, durable: Lsn): Buffer {
  dst[0] = RECORD_TABLE.commit.code;
  dst.writeUInt32LE(txn, 1);
  dst.writeDoubleLE(time, 5);
  writeLsn(dst, 13, durable);
  return dst.subarray(0, COMMIT_SIZE);
}

/**
 * Decodes a record body (type byte first). Byte fields are views into `body`. Throws a
 * CairnError('CORRUPT') when the body does not match the table; the caller adds file and offset.
 */
export function decodeRecord(body: Buffer): LogRecord {
  return decodeFrequent(body) ?? decodeByTable(body);
}

/**
 * decodeRecord of the records recovery reads by the hundred thousand (page_image, page_delta,
 * commit), when well formed, read field by field into an object literal without the table
 * walk; undefined for any other body, which decodeByTable decodes or rejects (so errors are
 * the table's, word for word).
 */
function decodeFrequent(body: Buffer): LogRecord | undefined {
  const len = body.length;
  switch (body[0]) {
    case RECORD_TABLE.page_image.code: {
      if (len < PAGE_IMAGE_FIXED || len !== PAGE_IMAGE_FIXED + body.readUInt32LE(13)) return undefined;
      return { type: 'page_image', txn: body.readUInt32LE(1), file: body.readUInt32LE(5), pgno: body.readUInt32LE(9), image: body.subarray(PAGE_IMAGE_FIXED, len) };
    }
    case RECORD_TABLE.page_delta.code: {
      if (len < PAGE_DELTA_FIXED || len !== PAGE_DELTA_FIXED + body.readUInt32LE(21)) return undefined;
      return { type: 'page_delta', txn: body.readUInt32LE(1), file: body.readUInt32LE(5), pgno: body.readUInt32LE(9), prev: makeLsn(body.readUInt32LE(13), body.readUInt32LE(17)), ranges: body.subarray(PAGE_DELTA_FIXED, len) };
    }
    case RECORD_TABLE.commit.code: {
      if (len !== 21) return undefined; // type, txn, time, durable
      return { type: 'commit', txn: body.readUInt32LE(1), time: body.readDoubleLE(5), durable: makeLsn(body.readUInt32LE(13), body.readUInt32LE(17)) };
    }
    default:
      return undefined;
  }
}

/**
 * True when a body of `len` bytes whose type byte is `code` has fields that fill it exactly, as
 * decodeByTable requires; `u32At(at)` reads the u32 at body offset `at` (called only for length
 * fields lying within `len`). A scan for records (reader.ts) tests a candidate's shape from a few
 * bytes of its head this way before it reads and checksums the whole body.
 */
export function bodyFits(code: number, len: number, u32At: (at: number) => number): boolean {
  const name = byCode.get(code);
  if (name === undefined) return false;
  let at = 1;
  for (const [, kind] of fieldLists.get(name)!) {
    if (kind === 'bytes' || kind === 'str') {
      if (at + 4 > len) return false;
      at += 4 + u32At(at);
    } else {
      at += kind === 'u32' ? 4 : 8;
    }
    if (at > len) return false;
  }
  return at === len;
}

/**
 * Body offset of the `durable` field of each record type that has one (commit, checkpoint: a bad
 * record below it is corruption, I6), keyed by type code. Every field before it has a fixed size.
 */
export const DURABLE_AT: ReadonlyMap<number, number> = (() => {
  const out = new Map<number, number>();
  for (const [name, fields] of fieldLists) {
    let at = 1;
    for (const [f, kind] of fields) {
      if (f === 'durable') {
        out.set(RECORD_TABLE[name].code, at);
        break;
      }
      if (kind === 'bytes' || kind === 'str') break;
      at += kind === 'u32' ? 4 : 8;
    }
  }
  return out;
})();

/** decodeRecord by walking the record table: every type, every malformation reported. */
export function decodeByTable(body: Buffer): LogRecord {
  const name = byCode.get(body[0]!);
  if (name === undefined) throw new CairnError('CORRUPT', `unknown log record type ${body[0]}`);
  const out: Record<string, unknown> = { type: name };
  let at = 1;
  const need = (n: number) => {
    if (at + n > body.length) throw new CairnError('CORRUPT', `log record ${name} is truncated`);
  };
  for (const [f, kind] of fieldLists.get(name)!) {
    switch (kind) {
      case 'u32':
        need(4);
        out[f] = body.readUInt32LE(at);
        at += 4;
        break;
      case 'lsn':
        need(8);
        out[f] = makeLsn(body.readUInt32LE(at), body.readUInt32LE(at + 4));
        at += 8;
        break;
      case 'time':
        need(8);
        out[f] = body.readDoubleLE(at);
        at += 8;
        break;
      case 'bytes':
      case 'str': {
        need(4);
        const n = body.readUInt32LE(at);
        need(4 + n);
        const slice = body.subarray(at + 4, at + 4 + n);
        out[f] = kind === 'str' ? slice.toString('utf8') : slice;
        at += 4 + n;
        break;
      }
    }
  }
  if (at !== body.length) throw new CairnError('CORRUPT', `log record ${name} has ${body.length - at} trailing bytes`);
  return out as LogRecord;
}

/** Berkeley DB's -t time syntax, CCYYMMDDhhmm.SS, in local time: what db_recover -t accepts. */
export function formatRecoverTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}.${p(d.getSeconds())}`;
}

/** One line per record for db_printlog, derived from the table. */
export function formatRecord(lsn: Lsn, rec: LogRecord): string {
  const parts = [`${formatLsn(lsn)} ${rec.type}:`];
  const values = rec as unknown as Record<string, unknown>;
  for (const [f, kind] of Object.entries(RECORD_TABLE[rec.type].fields) as [string, FieldKind][]) {
    const v = values[f];
    switch (kind) {
      case 'u32':
        parts.push(`${f}=${v}`);
        break;
      case 'lsn':
        parts.push(`${f}=${formatLsn(v as number)}`);
        break;
      case 'time':
        parts.push(`${f}=${formatRecoverTime(v as number)}`);
        break;
      case 'bytes':
        parts.push(`${f}=<${(v as Buffer).length} bytes>`);
        break;
      case 'str':
        parts.push(`${f}=${JSON.stringify(v)}`);
        break;
    }
  }
  return parts.join(' ');
}
