// Reading the log: list the files, check their headers, iterate records, find the end.
//
// End of log (I6): the end is the first position in the LAST file where no valid record
// starts (a zero length, a bad checksum, a record running past the file). Such a position is
// a torn tail unless something proves the bytes there had been made durable:
//   - a later file exists whose header says the earlier file ended further on (prevEnd), or
//   - a later valid record (commit or checkpoint) says the log was durable beyond it.
// Then it is corruption, reported with file and offset, and never silently truncated.
// A damaged header of the last file is the end of the log (its creation was torn) only while
// no valid record follows it in that file: the header is made durable before any record.
//
// Bounded work on damage (F9, F10): a length field above MAX_RECORD_BODY or past the file is
// refused before anything is read for it; a long record is checksummed streaming before memory
// is taken for it; the search for a later valid record (tailProof) looks at each offset's head
// only and checksums just the candidates whose type and fields fit their length, within a byte
// budget (TAIL_CHECK_BASE + 2 × the bytes searched); past the budget the tail is reported as
// corruption, never silently truncated.
//
// Histories (docs/FORMAT.md §Log files): walking files in order, each file's history equals the
// previous file's, or its parent is the previous file's history and the fork is at the end of
// that file's records; otherwise log files of two histories were mixed. Zero is unknown.

import * as path from 'node:path';
import type { FileHandle, Vfs } from '../io/vfs.js';
import { CorruptionError, CairnError } from '../util/errors.js';
import { type Lsn, makeLsn, lsnFile, lsnOffset } from '../util/lsn.js';
import {
  LOG_HEADER_SIZE,
  MAX_RECORD_BODY,
  RECORD_HEADER_SIZE,
  type LogFileHeader,
  decodeLogHeader,
  knownHistory,
  logFileName,
  parseLogFileName,
  recordChecksum,
} from './file.js';
import { DURABLE_AT, type LogRecord, bodyFits, decodeRecord, recordName } from './records.js';
import { zlib } from '../util/node.js';

export interface RawRecord {
  lsn: Lsn;
  /** LSN just past this record. */
  next: Lsn;
  body: Buffer;
}

/** Sorted numbers of the log files in dir. */
export function listLogFiles(vfs: Vfs, dir: string): number[] {
  if (!vfs.stat(dir)?.isDirectory) return [];
  const out: number[] = [];
  for (const name of vfs.readdir(dir)) {
    const n = parseLogFileName(name);
    if (n !== undefined) out.push(n);
  }
  return out.sort((a, b) => a - b);
}

/**
 * True when `body` (the record at `offset` of file fileNo, whose header holds checksum `sum`)
 * is a valid record: a known type and the checksum salted with its LSN (I6).
 */
function sound(fileNo: number, offset: number, body: Buffer, sum: number): boolean {
  if (recordName(body[0]!) === undefined) return false;
  // PLANT(log-ignore-checksum): return true;
  return sum === recordChecksum(fileNo, offset, body);
}

const NO_BYTES = Buffer.alloc(0);

/**
 * True when the `len` body bytes of the record at `offset` of file fileNo check against `sum`,
 * read through `h` into `scratch` piece by piece (nothing allocated for the record); `have`,
 * when given, holds the first body bytes already. The type byte is the caller's to check.
 */
function checksumStreaming(h: FileHandle, fileNo: number, offset: number, len: number, sum: number, scratch: Buffer, have: Buffer = NO_BYTES): boolean {
  // PLANT(log-ignore-checksum): return true;
  const first = Math.min(have.length, len);
  // (Not an empty view: zlib.crc32 of a subarray of a zero-length Buffer returns 0 on Node 20.)
  let crc = recordChecksum(fileNo, offset, first === 0 ? NO_BYTES : have.subarray(0, first));
  const end = offset + RECORD_HEADER_SIZE + len;
  for (let p = offset + RECORD_HEADER_SIZE + first; p < end; ) {
    const n = h.read(scratch.subarray(0, Math.min(scratch.length, end - p)), p);
    if (n === 0) return false; // the file is shorter than it said
    crc = zlib.crc32(scratch.subarray(0, n), crc);
    p += n;
  }
  return crc === sum;
}

/**
 * True when a valid record starts at `offset` in log file fileNo. Reads its header, then
 * checksums its body in pieces: a damaged length costs no memory (F10).
 */
export function recordStartsAt(vfs: Vfs, dir: string, fileNo: number, offset: number): boolean {
  const h = vfs.open(path.join(dir, logFileName(fileNo)), { readOnly: true });
  try {
    const head = Buffer.alloc(RECORD_HEADER_SIZE + 1);
    if (h.read(head, offset) < head.length) return false;
    const len = head.readUInt32LE(0);
    if (len === 0 || len > MAX_RECORD_BODY || offset + RECORD_HEADER_SIZE + len > h.size()) return false;
    if (recordName(head[RECORD_HEADER_SIZE]!) === undefined) return false;
    return checksumStreaming(h, fileNo, offset, len, head.readUInt32LE(4), Buffer.allocUnsafe(Math.min(len, PIECE_BYTES)));
  } finally {
    h.close();
  }
}

const ZERO_SPAN = Buffer.alloc(64 * 1024);

/** True when `view` lies in `buffer`'s bytes (a body to copy in beforeReuse). */
export function within(view: Uint8Array, buffer: Uint8Array): boolean {
  return view.buffer === buffer.buffer && view.byteOffset >= buffer.byteOffset && view.byteOffset < buffer.byteOffset + buffer.byteLength;
}

/**
 * Log files are read in pieces of this many bytes, each checked while it is still in the core's
 * cache (read + crc32 of the 1M database's 13 log files: 107–195 ms in 64 KiB reads, 183–261 ms
 * in whole-file reads).
 */
export const PIECE_BYTES = 64 * 1024;
/** The pieces go into a window of this many bytes of one file, slid on when it is full. */
export const WINDOW_BYTES = 1024 * 1024;

/**
 * The tail search's budget (tailProof): the candidate bodies it checksums may total this many
 * bytes plus twice the bytes it searches. The writer's own bytes after a torn end never spend it
 * (their `durable` claims lie below the end: only damage or a crafted file makes candidates), and
 * a zero-length header is never a candidate.
 */
export const TAIL_CHECK_BASE = 64 * 1024 * 1024;
/** What reading a length field outside the window costs the budget (one read system call). */
const FAR_READ_COST = 4096;
/** Bytes of a candidate's head looked at from the window: record header and fixed fields. */
const HEAD_PROBE = 64;

/** The work of the last tail search (tests: linear in the bytes searched). */
export interface TailStats {
  /** Offsets looked at. */
  offsets: number;
  /** Candidates checksummed, and their body bytes. */
  candidates: number;
  checksummed: number;
}

export interface LogReaderOptions {
  /**
   * Read every piece of every file into two window buffers kept for the whole read, in turn (no
   * fresh memory per window). A record's body, and the byte fields decoded from it, are then
   * valid only until the buffer holding it is filled again: `beforeReuse(buffer)` is called
   * just before, for the caller to copy what it keeps of the views into `buffer` (see
   * `within`). Without reuseBuffer, bodies stay valid (a slid window goes to fresh memory).
   */
  reuseBuffer?: boolean;
  beforeReuse?: (buffer: Buffer) => void;
  /** Bytes per read (default PIECE_BYTES); tests use odd sizes to put records across pieces. */
  pieceBytes?: number;
  /** Bytes of a file held at once (default WINDOW_BYTES); grown for a larger record. */
  windowBytes?: number;
}

export class LogReader {
  readonly dir: string;
  readonly files: number[];
  private readonly vfs: Vfs;
  private readonly envId: Buffer | undefined;
  private readonly reuseBuffer: boolean;
  private readonly beforeReuse: ((buffer: Buffer) => void) | undefined;
  private readonly pieceBytes: number;
  private readonly windowBytes: number;
  /** The file being read, its header (undefined: damaged) and handle. */
  private current: { fileNo: number; header: LogFileHeader | undefined } | undefined;
  private handle: FileHandle | undefined;
  /** Bytes of the current file that can be read (its size, less when a read comes up short). */
  private size = 0;
  /** The window: bytes [winStart, winEnd) of the current file, at buf[0 .. winEnd - winStart). */
  private buf: Buffer | undefined;
  private winStart = 0;
  private winEnd = 0;
  /** A record body in buf was handed out since it was last filled. */
  private handedOut = false;
  /** With reuseBuffer: the previous window, filled again at the next slide. */
  private spare: Buffer | undefined;
  private spareHandedOut = false;
  /** Set once iteration reaches the end of the log. */
  end: Lsn | undefined;
  /** The work of the last search after the end of the records (tailProof). */
  tail: TailStats = { offsets: 0, candidates: 0, checksummed: 0 };
  /** A piece's worth of memory for checksumming long records streaming. */
  private scratch: Buffer | undefined;

  /** envId: when given, a log file of another environment is refused (I7). */
  constructor(vfs: Vfs, dir: string, envId?: Buffer, options: LogReaderOptions = {}) {
    this.vfs = vfs;
    this.dir = dir;
    this.envId = envId;
    this.reuseBuffer = options.reuseBuffer === true;
    this.beforeReuse = options.beforeReuse;
    this.pieceBytes = Math.max(1, options.pieceBytes ?? PIECE_BYTES);
    this.windowBytes = Math.max(this.pieceBytes, options.windowBytes ?? WINDOW_BYTES);
    this.files = listLogFiles(vfs, dir);
  }

  pathOf(fileNo: number): string {
    return path.join(this.dir, logFileName(fileNo));
  }

  /** Starts reading a file: returns its header, undefined when the header is not valid. */
  private openFile(fileNo: number): LogFileHeader | undefined {
    this.closeFile();
    this.handle = this.vfs.open(this.pathOf(fileNo), { readOnly: true });
    this.size = this.handle.size();
    this.winStart = 0;
    this.winEnd = 0;
    this.slide(0, 0); // the window's bytes are another file's
    const at = this.bytes(0, LOG_HEADER_SIZE);
    const header = at < 0 ? undefined : this.checkHeader(fileNo, this.buf!.subarray(at, at + LOG_HEADER_SIZE));
    // Records end within the size the file was made with (the writer switches files before, and
    // every file of an environment is made with its control file's logFileSize): bytes past it,
    // a file extended by damage or by hand, hold no record and are not read (F10).
    if (header !== undefined && header.fileSize >= LOG_HEADER_SIZE) this.size = Math.min(this.size, header.fileSize);
    this.current = { fileNo, header };
    return header;
  }

  private closeFile(): void {
    this.current = undefined;
    this.handle?.close();
    this.handle = undefined;
  }

  /**
   * Makes bytes [at, at + len) of the current file present in the window, reading on in pieces
   * (or sliding the window to start at `at`); returns where they start in buf, or -1 when the
   * file ends before at + len.
   */
  private bytes(at: number, len: number): number {
    const end = at + len;
    if (at >= this.winStart && end <= this.winEnd) return at - this.winStart;
    if (end > this.size) return -1;
    if (this.buf === undefined || at < this.winStart || at > this.winEnd || end - this.winStart > this.buf.length) this.slide(at, len);
    const buf = this.buf!;
    while (this.winEnd < end) {
      const from = this.winEnd - this.winStart;
      const want = Math.min(Math.max(this.pieceBytes, end - this.winEnd), buf.length - from, this.size - this.winEnd);
      const n = this.handle!.read(buf.subarray(from, from + want), this.winEnd);
      if (n === 0) {
        this.size = this.winEnd; // the file is shorter than it said
        return -1;
      }
      this.winEnd += n;
    }
    return at - this.winStart;
  }

  /**
   * Moves the window to start at `at`, keeping the bytes it already holds from there, with room
   * for len bytes. Bytes of records handed out are never overwritten unseen. With reuseBuffer,
   * two buffers take turns: a window whose records were handed out becomes the spare, so its
   * bodies stay valid through the next window, and beforeReuse is called before it is filled
   * again. Without reuseBuffer, such a window is left as it is and fresh memory is taken.
   */
  private slide(at: number, len: number): void {
    const keepFrom = at >= this.winStart && at < this.winEnd ? at - this.winStart : -1;
    const keep = keepFrom < 0 ? 0 : this.winEnd - at;
    const need = Math.max(this.windowBytes, len);
    const old = this.buf;
    let next: Buffer;
    if (old !== undefined && !this.handedOut && old.length >= need) {
      next = old; // nothing handed out from it: slid in place
      if (keep > 0 && keepFrom > 0) old.copyWithin(0, keepFrom, keepFrom + keep);
    } else {
      if (!this.reuseBuffer || this.spare === undefined || this.spare.length < need) {
        next = Buffer.allocUnsafeSlow(need); // its own memory, never shared with another window
      } else {
        next = this.spare;
        if (this.spareHandedOut) this.beforeReuse?.(next);
      }
      if (keep > 0) old!.copy(next, 0, keepFrom, keepFrom + keep);
      if (this.reuseBuffer && old !== undefined) {
        this.spare = old;
        this.spareHandedOut = this.handedOut;
      }
    }
    this.buf = next;
    this.handedOut = false;
    this.winStart = at;
    this.winEnd = at + keep;
  }

  /**
   * The body of the valid record starting at `offset` of the current file (fileNo), a view of
   * the window; undefined for a zero length, a record running past the file, an unknown type
   * or a bad checksum.
   */
  private recordAt(fileNo: number, offset: number): Buffer | undefined {
    const h = this.bytes(offset, RECORD_HEADER_SIZE + 1);
    if (h < 0) return undefined;
    const len = this.buf!.readUInt32LE(h);
    if (len === 0 || len > MAX_RECORD_BODY || offset + RECORD_HEADER_SIZE + len > this.size) return undefined;
    if (RECORD_HEADER_SIZE + len > this.windowBytes) {
      // A record longer than the window is checked before memory is taken for it: a damaged
      // length field must not cost an allocation of its claim (F10).
      if (recordName(this.buf![h + RECORD_HEADER_SIZE]!) === undefined) return undefined;
      if (!this.checksumAt(fileNo, offset, len, this.buf!.readUInt32LE(h + 4))) return undefined;
    }
    const at = this.bytes(offset, RECORD_HEADER_SIZE + len);
    if (at < 0) return undefined;
    const buf = this.buf!;
    const body = buf.subarray(at + RECORD_HEADER_SIZE, at + RECORD_HEADER_SIZE + len);
    return sound(fileNo, offset, body, buf.readUInt32LE(at + 4)) ? body : undefined;
  }

  /**
   * True when the record at `offset` of the current file, `len` body bytes, checks against
   * `sum`: the bytes the window holds from its body on, then the rest read piece by piece.
   */
  private checksumAt(fileNo: number, offset: number, len: number, sum: number): boolean {
    const from = offset + RECORD_HEADER_SIZE;
    const have = from >= this.winStart && from < this.winEnd ? this.buf!.subarray(from - this.winStart, this.winEnd - this.winStart) : NO_BYTES;
    this.scratch ??= Buffer.allocUnsafe(this.pieceBytes);
    return checksumStreaming(this.handle!, fileNo, offset, len, sum, this.scratch, have);
  }

  /**
   * Searches the current file from `from` on for a valid record that proves the bytes before it
   * were durable (I6): with `stop`, a commit or checkpoint whose `durable` lies beyond stop;
   * without, any record (a damaged last header followed by records). Returns its offset and
   * claim (0 without stop), or undefined.
   * Linear in the bytes searched (F9): at each offset only the head is looked at — the length
   * must fit the file and MAX_RECORD_BODY, the type be one sought, the fields fill the length
   * exactly (records.ts bodyFits), the claim lie beyond stop — and only such a candidate is
   * checksummed, streaming. Their bytes are bounded by the budget (TAIL_CHECK_BASE); past it the
   * tail cannot be told from corruption and is reported as corruption at `badAt`.
   */
  private tailProof(fileNo: number, from: number, stop: Lsn | undefined, badAt: number): { at: number; claim: Lsn } | undefined {
    const stats: TailStats = { offsets: 0, candidates: 0, checksummed: 0 };
    this.tail = stats;
    let budget = TAIL_CHECK_BASE + 2 * Math.max(0, this.size - from);
    const far = Buffer.alloc(4);
    const overBudget = (): CorruptionError =>
      new CorruptionError(this.pathOf(fileNo), badAt, `${badAt === 0 ? 'log file header is damaged' : `no valid log record at offset ${badAt}`}, and the ${this.size - from} bytes after it hold more record-like damage than can be checked (${stats.candidates} candidates, ${stats.checksummed} bytes checksummed): the log is damaged, not torn; restore it from a backup or run catastrophic recovery from an intact copy`);
    let at = from;
    outer: while (at + RECORD_HEADER_SIZE < this.size) {
      // A stretch of the file into the window, then every offset whose head lies in it.
      const want = Math.min(Math.max(4 * HEAD_PROBE, this.pieceBytes), this.size - at);
      if (this.bytes(at, want) < 0) break;
      const buf = this.buf!;
      const winStart = this.winStart;
      const winEnd = this.winEnd;
      const last = at + want >= this.size ? this.size - RECORD_HEADER_SIZE : at + want - HEAD_PROBE + 1;
      for (; at < last; at++) {
        if (budget < 0) throw overBudget();
        stats.offsets++;
        const h = at - winStart;
        const len = (buf[h]! | (buf[h + 1]! << 8) | (buf[h + 2]! << 16)) + buf[h + 3]! * 0x100_0000;
        if (len === 0) {
          // The preallocated tail is zeros: skip all-zero stretches with one native compare
          // (a record can only start where its length field has a non-zero byte). A byte-wise
          // scan of a 10 MiB file's zero tail cost ~0.25 s per open or recovery.
          const e = at + ZERO_SPAN.length;
          if (e <= this.size) {
            const z = this.bytes(at, ZERO_SPAN.length);
            const zeros = z >= 0 && this.buf!.compare(ZERO_SPAN, 0, ZERO_SPAN.length, z, z + ZERO_SPAN.length) === 0;
            at = zeros ? e - 3 : at + 1;
            continue outer; // the window may have moved
          }
          continue;
        }
        if (len > MAX_RECORD_BODY || at + RECORD_HEADER_SIZE + len > this.size) continue;
        const code = buf[h + RECORD_HEADER_SIZE]!;
        const durableAt = DURABLE_AT.get(code);
        if (stop !== undefined && durableAt === undefined) continue; // only commit and checkpoint claim durability
        const body = at + RECORD_HEADER_SIZE;
        const u32At = (b: number): number => {
          const p = body + b;
          if (p >= winStart && p + 4 <= winEnd) return buf.readUInt32LE(p - winStart);
          budget -= FAR_READ_COST; // a length field far into the body: read on its own
          return this.handle!.read(far, p) === 4 ? far.readUInt32LE(0) : 0xffffffff;
        };
        if (!bodyFits(code, len, u32At)) continue;
        let claim = 0;
        if (stop !== undefined) {
          claim = makeLsn(u32At(durableAt!), u32At(durableAt! + 4));
          if (claim <= stop) continue; // proves nothing about the bytes at stop
        }
        if (len > budget) throw overBudget();
        budget -= len;
        stats.candidates++;
        stats.checksummed += len;
        if (this.checksumAt(fileNo, at, len, buf.readUInt32LE(h + 4))) return { at, claim };
      }
    }
    return undefined;
  }

  /** Decodes a file's header; throws when it names another file or environment (I7). */
  private checkHeader(fileNo: number, head: Buffer): LogFileHeader | undefined {
    const header = decodeLogHeader(head);
    if (header === undefined) return undefined;
    if (header.fileNo !== fileNo) {
      throw new CorruptionError(this.pathOf(fileNo), 12, `log header says file ${header.fileNo}; the file was renamed or copied over`);
    }
    if (this.envId !== undefined && !header.envId.equals(this.envId)) {
      throw new CorruptionError(this.pathOf(fileNo), 20, `log file belongs to another environment (id ${header.envId.toString('hex')}, expected ${this.envId.toString('hex')})`);
    }
    return header;
  }

  /** The header of a file (undefined if torn). Reads the header only, not the whole file. */
  header(fileNo: number): LogFileHeader | undefined {
    if (this.current?.fileNo === fileNo) return this.current.header;
    return this.checkHeader(fileNo, this.readHead(fileNo));
  }

  /** Throws when the numbering from `first` to the last file has a hole (I7). */
  checkContiguous(first: number): void {
    let expect = first;
    for (const n of this.files) {
      if (n < first) continue;
      if (n !== expect) {
        throw new CairnError('CORRUPT', `log file ${logFileName(expect)} is missing in ${this.dir} (have ${logFileName(n)} after it); copy it back from the primary or archive, or restore a complete set of log files`);
      }
      expect++;
    }
  }

  /**
   * Iterates valid records from `from` (an LSN, or the first record of the first file) to the
   * end of the log. Decodes nothing: callers decode what they need. Throws CorruptionError on
   * corruption (I6); sets `end` when done.
   */
  *records(from?: Lsn): Generator<RawRecord> {
    if (this.files.length === 0) {
      this.end = from;
      return;
    }
    let fileNo = from === undefined ? this.files[0]! : lsnFile(from);
    let offset = from === undefined ? LOG_HEADER_SIZE : Math.max(lsnOffset(from), LOG_HEADER_SIZE);
    const last = this.files[this.files.length - 1]!;
    if (!this.files.includes(fileNo)) {
      throw new CairnError('CORRUPT', `log file ${logFileName(fileNo)} needed from LSN [${fileNo}][${offset}] is missing in ${this.dir}`);
    }
    this.checkContiguous(fileNo);
    try {
      for (;;) {
        const header = this.openFile(fileNo);
        if (header === undefined) throw new CorruptionError(this.pathOf(fileNo), 0, 'log file header is damaged');
        for (;;) {
          const body = this.recordAt(fileNo, offset);
          if (body === undefined) break;
          const next = offset + RECORD_HEADER_SIZE + body.length;
          this.handedOut = true;
          yield { lsn: makeLsn(fileNo, offset), next: makeLsn(fileNo, next), body };
          offset = next;
        }
        // No valid record at `offset`: end of this file's records, torn tail, or corruption.
        const stop = makeLsn(fileNo, offset);
        if (fileNo < last) {
          const nextHeader = this.peekHeader(fileNo + 1);
          if (nextHeader !== undefined) {
            const here = header.history;
            const there = nextHeader.history;
            // Each file continues the previous file's history, or forks from it (a failover).
            if (knownHistory(here) && knownHistory(there) && !there.equals(here)) {
              if (!nextHeader.parent!.equals(here)) {
                throw new CorruptionError(this.pathOf(fileNo + 1), 40, `log file belongs to history ${there.toString('hex')}, which neither continues history ${here.toString('hex')} of ${logFileName(fileNo)} nor forked from it: log files of two histories (an old primary's and a failed-over copy's) were mixed; put back this environment's own log files`);
              }
              if (nextHeader.prevEnd !== offset) {
                throw new CorruptionError(this.pathOf(fileNo), offset, `log records end at offset ${offset}, but history ${there.toString('hex')} (${logFileName(fileNo + 1)}) forked from this file's history ${here.toString('hex')} at offset ${nextHeader.prevEnd}: the old primary's log files were copied over a failed-over copy; put back this environment's own log files`);
              }
            }
            if (nextHeader.prevEnd !== offset) {
              throw new CorruptionError(this.pathOf(fileNo), offset, `log records end at offset ${offset} but ${logFileName(fileNo + 1)} says this file was durable to ${nextHeader.prevEnd}`);
            }
            fileNo++;
            offset = LOG_HEADER_SIZE;
            continue;
          }
          // A damaged header is a torn creation of the last file only while no record was written
          // after it: the header is durable before the first record goes in.
          if (fileNo + 1 !== last || this.holdsRecord(last)) throw new CorruptionError(this.pathOf(fileNo + 1), 0, 'log file header is damaged');
          this.end = stop;
          return;
        }
        // The last file: look for proof that the bytes at `offset` were durable.
        const proof = this.tailProof(fileNo, offset + 1, stop, offset);
        if (proof !== undefined) { // PLANT(log-corrupt-as-end): if (proof !== undefined && proof.at < 0) {
          throw new CorruptionError(this.pathOf(fileNo), offset, `bad log record before valid ones (a record at offset ${proof.at} says the log was durable to [${lsnFile(proof.claim)}][${lsnOffset(proof.claim)}]); the log is corrupt, not torn: restore it from a backup or run catastrophic recovery from an intact copy`);
        }
        this.end = stop;
        return;
      }
    } finally {
      this.closeFile();
    }
  }

  /** True when a valid record starts anywhere after the file's header (bounded: tailProof). */
  private holdsRecord(fileNo: number): boolean {
    this.openFile(fileNo);
    return this.tailProof(fileNo, LOG_HEADER_SIZE, undefined, 0) !== undefined;
  }

  private peekHeader(fileNo: number): LogFileHeader | undefined {
    if (this.current?.fileNo === fileNo) return this.current.header;
    return decodeLogHeader(this.readHead(fileNo));
  }

  private readHead(fileNo: number): Buffer {
    const h = this.vfs.open(this.pathOf(fileNo), { readOnly: true });
    try {
      const buf = Buffer.alloc(LOG_HEADER_SIZE);
      h.read(buf, 0);
      return buf;
    } finally {
      h.close();
    }
  }

  /** Decodes one raw record, adding file and offset to any error. */
  decode(raw: RawRecord): LogRecord {
    try {
      return decodeRecord(raw.body);
    } catch (e) {
      throw new CorruptionError(this.pathOf(lsnFile(raw.lsn)), lsnOffset(raw.lsn), (e as Error).message);
    }
  }

  /** The end of the log (position of the next record), scanning from `from`. */
  findEnd(from?: Lsn): Lsn {
    for (const _ of this.records(from)) {
      // scan only
    }
    return this.end!;
  }
}
