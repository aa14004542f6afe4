// Recovery (DESIGN.md §Recovery): redo-only, because the page cache never holds uncommitted
// changes (no-steal), so no uncommitted change ever reaches a data file.
//
// One pass over the log from the start point. A transaction's records are contiguous and end
// with its commit record; records are buffered per transaction and applied when the commit
// arrives, or dropped when another transaction's records (or the end of the log) come first.
// A page change is applied only when the page's LSN is older than the record (idempotent:
// I10). A page_delta must find its page at the record's `prev` LSN, otherwise log is missing
// between the data file and the log (I7). A page that fails its checksum (torn write, torn
// copy) is rebuilt from the next full image; a delta before any image is an error.
//
// Normal recovery starts at the control file's redo point. Catastrophic recovery starts at
// the first log file and, at the end, checks every page of every data file: checksum,
// identity, no LSN beyond the end of the log (I7), and the LSN the page LSN map expects.
//
// Every page a replayed record touches is set in the pager's page LSN map to that record's
// LSN (the caller loads the map first and writes it after): see src/page/lsnmap.ts.

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { LogReader, within } from '../log/reader.js';
import type { LogRecord } from '../log/records.js';
import { DATA_MAGIC, MetaOffset, readMeta } from '../page/meta.js';
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE, PageOffset } from '../page/format.js';
import { DataFile, type Pager, applyDelta, checkPage, isZeroPage } from '../page/pager.js';
import { CairnError, CorruptionError, IoError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, readLsn, writeLsn } from '../util/lsn.js';
import { logFileName } from '../log/file.js';
import { INTERNAL_TXN } from '../txn/txn.js';
import { fileNameProblem } from './names.js';

/** The latest time a Date can hold (ms): a commit time must be a finite number from 0 to this. */
export const MAX_COMMIT_TIME = 8.64e15;

/**
 * Checks the fields of a record that recovery takes from the log into the file system, the
 * control file or messages (DESIGN.md §Recovery, "What recovery trusts"): a file name must be a
 * plain name in the data directories (names.ts), a page size one cairn makes, a commit time a
 * finite time. Anything else is corruption at the record — never a file created, written, removed
 * or renamed outside the environment, and never a value the control file's reader refuses.
 */
export function checkRecord(rec: LogRecord, where: () => [string, number]): void {
  let why: string | undefined;
  switch (rec.type) {
    case 'file_create':
      why = fileNameProblem(rec.name);
      if (why === undefined && !(rec.pageSize >= MIN_PAGE_SIZE && rec.pageSize <= MAX_PAGE_SIZE && (rec.pageSize & (rec.pageSize - 1)) === 0)) why = `page size ${rec.pageSize} is not a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}`;
      break;
    case 'file_remove':
      why = fileNameProblem(rec.name);
      break;
    case 'file_rename':
      why = fileNameProblem(rec.name) ?? fileNameProblem(rec.newName);
      break;
    case 'commit':
      if (!(Number.isFinite(rec.time) && rec.time >= 0 && rec.time <= MAX_COMMIT_TIME)) why = `commit time ${String(rec.time)} is not a time (milliseconds from 0 to ${MAX_COMMIT_TIME})`;
      break;
    default:
      return;
  }
  if (why !== undefined) {
    const [file, offset] = where();
    throw new CorruptionError(file, offset, `${rec.type} record${'txn' in rec ? ` of transaction ${rec.txn}` : ''}: ${why}; recovery refuses it (a damaged or crafted log: restore the log from a trusted copy)`);
  }
}

/**
 * A file a file_create (or file_rename) record may take as its own: none, an empty one, or one
 * whose first 512 bytes are zero or begin a cairn data file (a creation a crash cut short).
 * Anything else — a symbolic link, another program's file — is never written or renamed over: false.
 */
function mayCreateOver(vfs: Vfs, p: string): boolean {
  let h;
  try {
    h = vfs.open(p, { readOnly: true, noFollow: true });
  } catch (e) {
    if (e instanceof IoError && e.errno === 'ENOENT') return true;
    if (e instanceof IoError && e.errno === 'ELOOP') return false;
    throw e;
  }
  try {
    const head = Buffer.alloc(512);
    const n = h.read(head, 0);
    return n === 0 || isZeroPage(head) || head.subarray(MetaOffset.magic, MetaOffset.magic + 8).equals(DATA_MAGIC);
  } finally {
    h.close();
  }
}
import { RETENTION_HINT } from './retention.js';

export interface RecoveryContext {
  vfs: Vfs;
  pager: Pager;
  logDir: string;
  envId: Buffer;
  /** Where a data file of this name is, or would be created. */
  resolve(name: string): string;
  /** Every candidate data file in the data directories: name → path. */
  listDataFiles(): Map<string, string>;
  progress?: (p: import('../util/progress.js').Progress) => void;
}

export interface RecoveryOptions {
  /** Start LSN; undefined: the first record of the first log file (catastrophic). */
  from?: Lsn;
  /** Stop before the first commit later than this time (ms) or at this LSN. */
  untilTime?: number;
  untilLsn?: Lsn;
  /** Check every page of every data file at the end (catastrophic recovery). */
  checkAllPages?: boolean;
  /** The log reader's piece and window bytes (tests: small ones slide windows inside transactions). */
  pieces?: { pieceBytes: number; windowBytes: number };
  /**
   * Called once the checks that refuse before anything changes (data files of another
   * environment, a needsLog older than the first log file) have passed, before the first change:
   * the caller marks the directory 'recovering' here, so that a refused recovery leaves it as it was.
   */
  onStart?: () => void;
}

export interface RecoveryResult {
  start: Lsn;
  /** End of the log that was applied: the next record would go here. */
  end: Lsn;
  /** With until*: where recovery stopped (records from here on were not applied). */
  stoppedAt?: Lsn;
  committed: number;
  maxTxn: number;
  lastCommit?: number;
  firstCommit?: number;
  lastCheckpoint: Lsn;
  logBytes: number;
  pagesRedone: number;
}

const EMPTY = Buffer.alloc(0);

/** A private copy (Buffer.from on a Buffer view copies element by element: far slower). */
function copyOf(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(src.length);
  src.copy(out);
  return out;
}

/**
 * Pages of one data file that redo read from disk and found sound, with the LSN each had, and
 * their highest LSN. One number per page (-1: not found sound) rather than a Map entry: the Map
 * of the 1M-entry database's 30,000 pages cost 50–100 ms of garbage collection per recovery.
 */
class Verified {
  private lsns = new Float64Array(0);
  maxLsn: Lsn = 0;

  set(pgno: number, lsn: Lsn): void {
    if (pgno >= this.lsns.length) {
      const grown = new Float64Array(Math.max(pgno + 1, this.lsns.length * 2, 1024)).fill(-1);
      grown.set(this.lsns);
      this.lsns = grown;
    }
    this.lsns[pgno] = lsn;
    if (lsn > this.maxLsn) this.maxLsn = lsn;
  }

  /** The page's LSN when redo found it sound, else undefined. */
  get(pgno: number): Lsn | undefined {
    const lsn = this.lsns[pgno];
    return lsn === undefined || lsn < 0 ? undefined : lsn;
  }
}

interface Pending {
  lsn: Lsn;
  rec: LogRecord;
  body: Buffer;
  /** body is a private copy (not a view into the reader's window). */
  own: boolean;
}

/**
 * The final check reads data files in pieces of this many bytes: small enough to stay in the
 * core's cache between the read's copy and the checksums (read + crc32 of the 1M database's
 * 125 MB data file: 70–90 ms in 64 KiB reads, 110–150 ms in 1 MiB reads).
 */
const SCAN_BYTES = 64 * 1024;

/** Data pages are read in blocks of this many bytes during redo, and this many blocks are kept. */
const BLOCK_BYTES = 64 * 1024;
const BLOCKS_KEPT = 32;

/**
 * The blocks of data files that redo read pages from, the least recently used dropped first
 * (its buffer reused): one read per block instead of one per page, while the pages every
 * transaction touches (meta, root, branches) stay. Redo writes no data page before flushAll and
 * the caller drops the blocks at every file operation, so they hold what the files hold. Pages
 * returned are views into a kept buffer: to be copied before they are changed or kept.
 */
class PageBlocks {
  private readonly blocks = new Map<DataFile, Map<number, Buffer>>();
  private count = 0;

  constructor(private readonly pager: Pager) {}

  /** The page's bytes as on disk (a view); the caller checks that it lies before the end of the file. */
  page(file: DataFile, pgno: number): Buffer {
    const ps = file.pageSize;
    const per = Math.max(1, Math.floor(BLOCK_BYTES / ps));
    const no = Math.floor(pgno / per);
    let ofFile = this.blocks.get(file);
    if (ofFile === undefined) this.blocks.set(file, (ofFile = new Map()));
    let buf = ofFile.get(no);
    if (buf !== undefined) {
      ofFile.delete(no); // most recently used last
    } else {
      buf = this.take(per * ps);
      const h = this.pager.handleOf(file, false);
      const n = h === undefined ? 0 : h.read(buf, no * per * ps);
      if (n < buf.length) buf.fill(0, n);
      this.count++;
    }
    ofFile.set(no, buf);
    const at = (pgno - no * per) * ps;
    return buf.subarray(at, at + ps);
  }

  /** A buffer for a block: the least recently used one's when enough are kept. */
  private take(size: number): Buffer {
    if (this.count >= BLOCKS_KEPT) {
      for (const ofFile of this.blocks.values()) {
        for (const [no, buf] of ofFile) {
          ofFile.delete(no);
          this.count--;
          if (buf.length === size) return buf;
          break;
        }
        if (this.count < BLOCKS_KEPT) break;
      }
    }
    return Buffer.allocUnsafe(size);
  }

  drop(): void {
    this.blocks.clear();
    this.count = 0;
  }
}

export function recover(ctx: RecoveryContext, opts: RecoveryOptions): RecoveryResult {
  const { pager, vfs } = ctx;
  // Two window buffers for all of the log, in turn (reader.ts): the records of an unfinished
  // transaction that lie in a window about to be filled again are copied first, each once
  // (pending[0 .. kept) are all copies already).
  let pending: Pending[] = [];
  let kept = 0;
  const keepPending = (reused: Buffer) => {
    for (let i = kept; i < pending.length; i++) {
      const p = pending[i]!;
      if (p.own || !within(p.body, reused)) continue;
      p.body = copyOf(p.body);
      p.rec = reader.decode({ lsn: p.lsn, next: p.lsn, body: p.body });
      p.own = true;
    }
    while (kept < pending.length && pending[kept]!.own) kept++;
  };
  const reader = new LogReader(vfs, ctx.logDir, ctx.envId, { ...opts.pieces, reuseBuffer: true, beforeReuse: keepPending });
  if (reader.files.length === 0) throw new CairnError('NOT_FOUND', `no log files in ${ctx.logDir}; nothing to recover from`);
  const start = opts.from ?? reader.files[0]! * 0x1_0000_0000 + 64;
  const result: RecoveryResult = { start, end: start, committed: 0, maxTxn: 0, lastCheckpoint: 0, logBytes: 0, pagesRedone: 0 };

  // uid → file, from the data files present, then from the log as it goes.
  const onDisk = new Map<number, DataFile>(); // files present before recovery, by uid
  for (const [name, p] of ctx.listDataFiles()) {
    const file = openDataFile(vfs, name, p, ctx.envId);
    if (file === undefined) continue;
    onDisk.set(file.uid, file);
    // I7: a copy of a data file needs the log from the redo point its meta page records (the
    // last checkpoint that wrote it): without the first log files, their commits would be lost
    // silently when no page shows the gap. Catastrophic recovery only (normal recovery starts at
    // the control file's redo point, which is never earlier than the files' pages need).
    if (opts.from === undefined && file.needsLog > 0 && lsnFile(file.needsLog) < reader.files[0]!) {
      const first = reader.files[0]!;
      const need = lsnFile(file.needsLog);
      const missing = first - need === 1 ? logFileName(need) : first - need === 2 ? `${logFileName(need)} and ${logFileName(need + 1)}` : `${logFileName(need)} … ${logFileName(first - 1)}`;
      throw new CairnError('NOT_FOUND', `data file ${p} needs the log from ${formatLsn(file.needsLog)}, but the first log file is ${logFileName(first)}: copy ${missing} from the primary or its archive, then run db_recover -c (${RETENTION_HINT})`);
    }
  }
  opts.onStart?.();
  const known = (uid: number): DataFile | undefined => pager.files.get(uid) ?? adopt(uid);
  const adopt = (uid: number): DataFile | undefined => {
    const f = onDisk.get(uid);
    if (f !== undefined) pager.addFile(f);
    return f;
  };
  /** Files in the last checkpoint's list, with the LSN that listed them. */
  const listed = new Map<number, { name: string; at: Lsn }>();
  /** Files whose pages could not be placed yet (absent, and created before the log start). */
  const missing = new Map<number, Lsn>();
  /** Pages torn in the data file and not yet rebuilt by an image: "uid/pgno" → LSN of the delta that found it. */
  const broken = new Map<string, { file: DataFile; pgno: number; at: Lsn }>();

  const blocks = new PageBlocks(pager);
  /** Pages found sound on disk by redo, by file: checkAllPages needs not checksum them again. */
  const verified = new Map<DataFile, Verified>();
  const sizes = new Map<DataFile, number>();
  const diskSize = (file: DataFile): number => {
    let n = sizes.get(file);
    if (n === undefined) {
      n = vfs.stat(file.path)?.size ?? 0;
      sizes.set(file, n);
    }
    return n;
  };
  /** Page records replayed per file: a file grows by at most one page per record. */
  const grown = new Map<DataFile, number>();
  const applyPage = (lsn: Lsn, rec: Extract<LogRecord, { type: 'page_image' | 'page_delta' }>) => {
    const file = known(rec.file);
    if (file === undefined) {
      if (!missing.has(rec.file)) missing.set(rec.file, lsn);
      return;
    }
    // Pages are allocated one at a time at the end of a file, each with a record: a page number
    // beyond the file's pages plus the records replayed so far is a damaged record, which must
    // not size a write or the page LSN map.
    const g = grown.get(file) ?? 0;
    if (rec.pgno > Math.ceil(diskSize(file) / file.pageSize) + g) {
      throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsn % 0x1_0000_0000, `${rec.type} record for page ${rec.pgno} of ${file.path}, which cannot have more than ${Math.ceil(diskSize(file) / file.pageSize) + g} pages at this point of the log`);
    }
    grown.set(file, g + 1);
    if (rec.type === 'page_image') {
      // An image carries its page's identity (I6): a record whose image is another page, of
      // another file or of another size would put it at the wrong place.
      const img = rec.image;
      if (img.length !== file.pageSize || img.readUInt32LE(PageOffset.pgno) !== rec.pgno || img.readUInt32LE(PageOffset.fileUid) !== file.uid) {
        throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsn % 0x1_0000_0000, `page image record for page ${rec.pgno} of ${file.path} holds ${img.length >= PageOffset.fileUid + 4 ? `page ${img.readUInt32LE(PageOffset.pgno)} of file id ${img.readUInt32LE(PageOffset.fileUid)}` : 'no page'} (${img.length} bytes, pages are ${file.pageSize})`);
      }
    }
    // Whatever the page holds now, after recovery it must carry this record's LSN (lsnmap.ts).
    pager.lsns.set(file.uid, rec.pgno, lsn);
    let buf: Buffer;
    let valid: boolean;
    const cached = file.pages.get(rec.pgno);
    if (cached !== undefined) {
      buf = cached.buf;
      valid = true;
    } else if ((rec.pgno + 1) * file.pageSize > diskSize(file)) {
      buf = EMPTY; // past the end of the file: never written
      valid = false;
    } else {
      buf = blocks.page(file, rec.pgno); // a view: copied below before it is changed
      valid = checkPage(buf, rec.pgno, file.uid) === undefined;
    }
    const pageLsn = valid ? readLsn(buf, PageOffset.lsnFile) : 0;
    if (valid && cached === undefined) {
      let v = verified.get(file);
      if (v === undefined) verified.set(file, (v = new Verified()));
      v.set(rec.pgno, pageLsn);
    }
    if (valid && pageLsn >= lsn) return; // already there (I10)
    // Recovery has no snapshots: a cached page is changed in place; others get a new buffer.
    let next: Buffer;
    if (rec.type === 'page_image') {
      if (cached !== undefined) {
        next = cached.buf;
        rec.image.copy(next);
      } else next = copyOf(rec.image);
      if (broken.size > 0) broken.delete(`${file.uid}/${rec.pgno}`);
    } else {
      if (!valid) {
        const key = `${file.uid}/${rec.pgno}`;
        if (!broken.has(key)) broken.set(key, { file, pgno: rec.pgno, at: lsn });
        return;
      }
      if (pageLsn !== rec.prev) {
        throw new CairnError(
          'CORRUPT',
          `log sequence error: page ${rec.pgno} of ${file.path} has LSN ${formatLsn(pageLsn)} but the change at ${formatLsn(lsn)} follows ${formatLsn(rec.prev)}; log records between them are missing (the data file is older than the first log file, or a log file is missing): copy the data files again and then the logs`,
        );
      }
      next = cached !== undefined ? buf : copyOf(buf);
      try {
        applyDelta(next, rec.ranges);
      } catch (e) {
        throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsn % 0x1_0000_0000, (e as Error).message);
      }
    }
    writeLsn(next, PageOffset.lsnFile, lsn);
    if (cached === undefined) pager.install(file, rec.pgno, next, 0, false);
    result.pagesRedone++;
  };

  const applyTxn = (pending: Pending[]) => {
    for (const { lsn, rec } of pending) {
      if (rec.type.startsWith('file_')) blocks.drop();
      switch (rec.type) {
        case 'page_image':
        case 'page_delta':
          applyPage(lsn, rec);
          break;
        case 'file_create': {
          missing.delete(rec.file);
          if (known(rec.file) === undefined) {
            const p = ctx.resolve(rec.name);
            if (!mayCreateOver(vfs, p)) {
              throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsn % 0x1_0000_0000, `file_create record of transaction ${rec.txn} names ${p}, which is a symbolic link or a file that is not a cairn data file; recovery never writes through a link or over another file: move it away, then recover again`);
            }
            const existing = vfs.stat(p) !== undefined ? openDataFile(vfs, rec.name, p, ctx.envId) : undefined;
            if (existing !== undefined && existing.uid !== rec.file) {
              // The name now belongs to a later incarnation of the file: this one was removed later.
              break;
            }
            pager.addFile(new DataFile(rec.name, p, rec.file, rec.pageSize));
          }
          break;
        }
        case 'file_remove': {
          const f = known(rec.file);
          if (f !== undefined) {
            if (vfs.stat(f.path) !== undefined) {
              f.handle?.close();
              f.handle = undefined;
              vfs.unlink(f.path);
              vfs.syncDir(path.dirname(f.path));
            }
            pager.dropFile(f);
          }
          missing.delete(rec.file);
          for (const k of [...broken.keys()]) if (k.startsWith(`${rec.file}/`)) broken.delete(k);
          break;
        }
        case 'file_rename': {
          const f = known(rec.file);
          if (f !== undefined) {
            const to = ctx.resolve(rec.newName);
            if (!mayCreateOver(vfs, to)) {
              throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsn % 0x1_0000_0000, `file_rename record of transaction ${rec.txn} renames to ${to}, which is a symbolic link or a file that is not a cairn data file; recovery never renames over one: move it away, then recover again`);
            }
            if (vfs.stat(f.path) !== undefined) {
              f.handle?.close();
              f.handle = undefined;
              vfs.rename(f.path, to);
              vfs.syncDir(path.dirname(to));
            }
            f.name = rec.newName;
            f.path = to;
          }
          break;
        }
        default:
          break;
      }
    }
  };

  let pendingTxn = -1;
  let stopped = false;
  let lastEnd = start;
  let nextReport = 0;
  const logTotal = ctx.progress && reader.files.filter((n) => n >= lsnFile(start)).reduce((sum, n) => sum + (vfs.stat(reader.pathOf(n))?.size ?? 0), 0) - (start % 0x1_0000_0000); // progress: an upper bound (the last file is preallocated)
  for (const raw of reader.records(opts.from)) {
    if (opts.untilLsn !== undefined && raw.lsn >= opts.untilLsn) {
      // Cut at a transaction boundary: the unfinished transaction's records go too.
      result.stoppedAt = pending.length > 0 ? pending[0]!.lsn : raw.lsn;
      stopped = true;
      break;
    }
    const rec = reader.decode(raw);
    if (rec.type !== 'page_image' && rec.type !== 'page_delta') checkRecord(rec, () => [reader.pathOf(lsnFile(raw.lsn)), raw.lsn % 0x1_0000_0000]);
    result.logBytes += raw.next - raw.lsn;
    if (rec.type === 'commit') {
      if (opts.untilTime !== undefined && rec.time > opts.untilTime && rec.txn !== INTERNAL_TXN) {
        result.stoppedAt = pending.length > 0 ? pending[0]!.lsn : raw.lsn;
        stopped = true;
        break;
      }
      if (rec.txn === pendingTxn) applyTxn(pending);
      pending = [];
      kept = 0;
      pendingTxn = -1;
      // Transaction 0 is a checkpoint's own (the meta pages' needsLog): not a user commit.
      if (rec.txn !== INTERNAL_TXN) {
        result.committed++;
        result.maxTxn = Math.max(result.maxTxn, rec.txn);
        result.lastCommit = rec.time;
        result.firstCommit ??= rec.time;
      }
    } else if (rec.type === 'checkpoint') {
      result.lastCheckpoint = raw.lsn;
      listed.clear();
      for (const line of rec.files.split('\n')) {
        const sp = line.indexOf(' ');
        if (sp > 0) listed.set(Number(line.slice(0, sp)), { name: line.slice(sp + 1), at: raw.lsn });
      }
    } else {
      if (rec.txn !== pendingTxn) {
        pending = [];
        kept = 0;
        pendingTxn = rec.txn;
      }
      result.maxTxn = Math.max(result.maxTxn, rec.txn);
      pending.push({ lsn: raw.lsn, rec, body: raw.body, own: false });
    }
    lastEnd = raw.next;
    if (ctx.progress && result.logBytes >= nextReport) {
      ctx.progress({ phase: 'recovery', done: result.logBytes, total: logTotal, unit: 'bytes' });
      nextReport += 256 * 1024;
    }
  }
  ctx.progress?.({ phase: 'recovery', done: result.logBytes, total: result.logBytes, unit: 'bytes' }); // the end: all of the log replayed
  result.end = stopped ? result.stoppedAt! : (reader.end ?? lastEnd);

  // What could not be placed.
  for (const [uid, at] of missing) {
    const l = listed.get(uid);
    if (l !== undefined) {
      throw new CairnError('NOT_FOUND', `data file ${fileNameProblem(l.name) === undefined ? l.name : JSON.stringify(l.name)} (listed by the checkpoint at ${formatLsn(l.at)}, changed at ${formatLsn(at)}) is missing; copy it into the environment and recover again`);
    }
  }
  for (const b of broken.values()) {
    throw new CorruptionError(b.file.path, b.pgno * b.file.pageSize, `page ${b.pgno} is damaged (torn or overwritten) and the log from ${formatLsn(b.at)} holds no full image to rebuild it; copy the data file again after a checkpoint, then the logs`);
  }

  // The log we redid from must be durable before pages that depend on it are written (I1).
  syncLastLog(vfs, reader);
  flushAll(pager);
  if (opts.checkAllPages) checkAllPages(pager, ctx, result.end, 'the log files were copied before the data files (copy data files first, then logs), or log files are missing at the end', verified);
  return result;
}

function syncLastLog(vfs: Vfs, reader: LogReader): void {
  for (const n of reader.files.slice(-2)) {
    const h = vfs.open(reader.pathOf(n));
    try {
      h.sync();
    } finally {
      h.close();
    }
  }
}

/** Writes every dirty page and fsyncs the data files. */
export function flushAll(pager: Pager): void {
  const dirty = pager.collectDirty();
  const touched = new Set<DataFile>();
  for (const d of dirty) {
    pager.writePage(d.file, d.pgno, d.buf);
    touched.add(d.file);
  }
  for (const f of touched) f.handle!.sync();
  for (const d of dirty) pager.markClean(d.file, d.pgno, d.buf);
}

/** Were all of the file's pages checked by this recovery, none with an LSN past `end`? */
function allChecked(pager: Pager, file: DataFile, seen: Verified, size: number, end: Lsn): boolean {
  if (size % file.pageSize !== 0 || seen.maxLsn >= end) return false;
  for (let pgno = 0; pgno < size / file.pageSize; pgno++) {
    const cached = file.pages.get(pgno);
    if (cached !== undefined) {
      if (readLsn(cached.buf, PageOffset.lsnFile) >= end) return false;
    } else if (seen.get(pgno) !== pager.lsns.get(file.uid, pgno)) return false; // unseen, or stale: the full scan reports it
  }
  return true;
}

/**
 * Opens a candidate data file's meta page; undefined when it is not a cairn data file or its
 * meta page fails its checks (damaged: nothing in it is trusted). Throws for a foreign
 * environment's file (I7).
 */
export function openDataFile(vfs: Vfs, name: string, p: string, envId: Buffer): DataFile | undefined {
  const h = vfs.open(p, { readOnly: true });
  let meta;
  try {
    const head = Buffer.alloc(512);
    h.read(head, 0);
    try {
      meta = readMeta(head, p);
    } catch {
      return undefined;
    }
    const ps = meta.pageSize;
    if (!(ps >= MIN_PAGE_SIZE && ps <= MAX_PAGE_SIZE && (ps & (ps - 1)) === 0)) return undefined;
    const page = Buffer.alloc(ps);
    h.read(page, 0);
    if (checkPage(page, 0, meta.fileUid) !== undefined) return undefined;
  } finally {
    h.close();
  }
  if (!meta.envId.equals(envId)) {
    throw new CairnError('CORRUPT', `data file ${p} belongs to another environment (id ${meta.envId.toString('hex')}, this one is ${envId.toString('hex')}); remove it or copy the right one`);
  }
  const file = new DataFile(name, p, meta.fileUid, meta.pageSize);
  file.needsLog = meta.needsLog;
  return file;
}

/**
 * Checks every page of every data file (catastrophic recovery's last step: I6, I7): checksum,
 * identity, and no page LSN past `end`; `hint` says what to do about a too-new page. Pages
 * recovery already checked in this run are not checksummed again (their LSN still is): those
 * redo found sound on disk (`verified`), and those it wrote itself (cached in the pager:
 * flushAll wrote them with a fresh checksum). A file all of whose pages are such is not read
 * again when none of their LSNs is past `end`.
 */
export function checkAllPages(pager: Pager, ctx: RecoveryContext, end: Lsn, hint: string, verified?: Map<DataFile, Verified>): void {
  const files = new Map<string, DataFile>();
  for (const [name, p] of ctx.listDataFiles()) {
    const f = openDataFile(ctx.vfs, name, p, ctx.envId);
    if (f !== undefined) files.set(p, f);
  }
  for (const f of pager.files.values()) files.set(f.path, f);
  for (const file of files.values()) {
    if (ctx.vfs.stat(file.path) === undefined) continue;
    const seen = verified?.get(file);
    const h = ctx.vfs.open(file.path, { readOnly: true });
    try {
      const size = h.size();
      if (seen !== undefined && allChecked(pager, file, seen, size, end)) continue;
      const chunk = Buffer.allocUnsafe(file.pageSize * Math.max(1, Math.floor(SCAN_BYTES / file.pageSize)));
      for (let base = 0; base < size; base += chunk.length) {
        const n = h.read(chunk, base);
        for (let off = 0; off + file.pageSize <= n; off += file.pageSize) {
          const pgno = (base + off) / file.pageSize;
          const page = chunk.subarray(off, off + file.pageSize);
          const why = seen?.get(pgno) !== undefined || file.pages.has(pgno) ? undefined : checkPage(page, pgno, file.uid);
          if (why !== undefined) {
            // Allocated past the last write and never used yet — unless the map knows it was written.
            if (isZeroPage(page) && pager.lsns.get(file.uid, pgno) === 0) continue;
            throw new CorruptionError(file.path, base + off, `${why}; the log does not rebuild this page: copy the data file again, then the logs`);
          }
          const lsn = readLsn(page, PageOffset.lsnFile);
          if (lsn >= end) {
            // A page LSN is the LSN of the record that made it: at `end` or later, that record is not in the log.
            throw new CairnError('CORRUPT', `data file ${file.path} page ${pgno} has LSN ${formatLsn(lsn)}, past the end of the log at ${formatLsn(end)}: ${hint}`);
          }
          const stale = pager.checkLsn(file, pgno, page);
          if (stale !== undefined) throw new CorruptionError(file.path, base + off, stale);
        }
      }
    } finally {
      h.close();
    }
  }
}
