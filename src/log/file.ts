// Log file naming and the per-file header (docs/FORMAT.md §Log files).
//
// A log file is log.NNNNNNNNNN (10 digits) preallocated to the log file size with zeros.
// offset size field
//      0    8 magic     "CAIRNLOG"
//      8    4 version   1
//     12    4 fileNo    must match the name
//     16    4 fileSize  the log file size this file was made with
//     20   16 envId     the environment's random id (I7: a foreign log is refused)
//     36    4 prevEnd   where records ended in file fileNo-1 (0 for the first file); that file
//                       was fsync'd through prevEnd before this one was made, so a bad record
//                       below prevEnd there is corruption, not a torn tail (I6)
//     40    8 history   the history this file belongs to (random, new at each failover; zero:
//                       unknown, a file made before histories existed)
//     48    8 parent    the history this one forked from (zero: none, or unknown)
//     56    4 reserved  zero
//     60    4 crc32     of bytes 0..59
// Records start at offset 64 (LOG_HEADER_SIZE). Each record is
//   u32 bodyLength, u32 crc32(lsn as u32 file + u32 offset, then body), body
// where body = one type byte + fields (records.ts). A bodyLength of 0 marks the end of the
// records in the file (the rest is preallocated zeros). Records never span files.

import { zlib } from '../util/node.js';

export const LOG_MAGIC = Buffer.from('CAIRNLOG', 'latin1');
export const LOG_VERSION = 1;
export const LOG_HEADER_SIZE = 64;
export const RECORD_HEADER_SIZE = 8;
/**
 * The largest record body the writer makes, and so the largest length a reader believes (I6):
 * a longer length field is damage, refused before anything is read for it or allocated. A
 * value's bytes are logged page by page, so a page_image body is at most 17 bytes + a page (64 KiB)
 * and a page_delta at most 25 + 2 pages + 16 (alternating ranges); commit is 21 bytes; file records carry one or two names; a checkpoint carries the names of
 * the open data files. The bound is that of a value (512 MiB) plus a page (64 KiB) plus 1 KiB of
 * fields, far above any of these; the writer refuses a larger record (LogWriter.appendBody), as
 * it refuses one larger than a log file.
 */
export const MAX_RECORD_BODY = 512 * 1024 * 1024 + 64 * 1024 + 1024;
export const DEFAULT_LOG_FILE_SIZE = 10 * 1024 * 1024;
export const MIN_LOG_FILE_SIZE = 32 * 1024;
export const DEFAULT_LOG_BUFFER_SIZE = 1024 * 1024;

export interface LogFileHeader {
  fileNo: number;
  fileSize: number;
  envId: Buffer;
  prevEnd: number;
  /** 8 bytes; zero (or absent when encoding) means unknown. */
  history?: Buffer;
  /** 8 bytes; zero (or absent when encoding) means none or unknown. */
  parent?: Buffer;
}

export const HISTORY_SIZE = 8;
export const NO_HISTORY = Buffer.alloc(HISTORY_SIZE);

/** True when a history id is known (not absent, not all zeros). */
export function knownHistory(h: Buffer | undefined): h is Buffer {
  return h !== undefined && !h.equals(NO_HISTORY);
}

export function logFileName(fileNo: number): string {
  return `log.${String(fileNo).padStart(10, '0')}`;
}

/** The file number of a log file name, or undefined when the name is not a log file's. */
export function parseLogFileName(name: string): number | undefined {
  const m = /^log\.(\d{10})$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export function encodeLogHeader(h: LogFileHeader): Buffer {
  const buf = Buffer.alloc(LOG_HEADER_SIZE);
  LOG_MAGIC.copy(buf, 0);
  buf.writeUInt32LE(LOG_VERSION, 8);
  buf.writeUInt32LE(h.fileNo, 12);
  buf.writeUInt32LE(h.fileSize, 16);
  h.envId.copy(buf, 20, 0, 16);
  buf.writeUInt32LE(h.prevEnd, 36);
  h.history?.copy(buf, 40, 0, HISTORY_SIZE);
  h.parent?.copy(buf, 48, 0, HISTORY_SIZE);
  buf.writeUInt32LE(zlib.crc32(buf.subarray(0, 60)), 60);
  return buf;
}

/** undefined when the header is not a valid cairn log header (torn, zero, foreign format). */
export function decodeLogHeader(buf: Buffer): LogFileHeader | undefined {
  if (buf.length < LOG_HEADER_SIZE) return undefined;
  if (!buf.subarray(0, 8).equals(LOG_MAGIC)) return undefined;
  if (buf.readUInt32LE(60) !== zlib.crc32(buf.subarray(0, 60))) return undefined;
  if (buf.readUInt32LE(8) !== LOG_VERSION) return undefined;
  return {
    fileNo: buf.readUInt32LE(12),
    fileSize: buf.readUInt32LE(16),
    envId: Buffer.from(buf.subarray(20, 36)),
    prevEnd: buf.readUInt32LE(36),
    history: Buffer.from(buf.subarray(40, 48)),
    parent: Buffer.from(buf.subarray(48, 56)),
  };
}

/** crc32's byte table (the zlib polynomial), for the 8 salt bytes of a record's checksum. */
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** crc32 of the little-endian bytes of u32 `v`, continuing from the running register `c`. */
function crcU32(c: number, v: number): number {
  c = CRC_TABLE[(c ^ v) & 0xff]! ^ (c >>> 8);
  c = CRC_TABLE[(c ^ (v >>> 8)) & 0xff]! ^ (c >>> 8);
  c = CRC_TABLE[(c ^ (v >>> 16)) & 0xff]! ^ (c >>> 8);
  return CRC_TABLE[(c ^ (v >>> 24)) & 0xff]! ^ (c >>> 8);
}

/**
 * crc32 of a record: the LSN salts it, so a stale record at another offset never validates.
 * = crc32 of (u32 fileNo, u32 offset, body); the 8 salt bytes are folded in here, so that a
 * record costs one native crc32 call (every commit appends two records, recovery checks each).
 */
export function recordChecksum(fileNo: number, offset: number, body: Uint8Array): number {
  return zlib.crc32(body, (crcU32(crcU32(-1, fileNo), offset) ^ -1) >>> 0);
}
