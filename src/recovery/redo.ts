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
//
// Normal recovery starts at the control file's redo point. Catastrophic recovery starts at
// the first log file and, at the end, checks every page of every data file (check.ts):
// checksum, identity, no LSN beyond the end of the log (I7), and the LSN the page LSN map expects.
//
// Every page a replayed record touches is set in the pager's page LSN map to that record's
// LSN (the caller loads the map first and writes it after): see src/page/lsnmap.ts.
//
// The redo handlers are one per record type, in a table keyed on the log record table
// (log/records.ts): a record type without a handler does not compile.

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { LogReader, within } from '../log/reader.js';
import type { LogRecord, RecordName } from '../log/records.js';
import { DATA_MAGIC, MetaOffset } from '../page/meta.js';
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE, PageOffset } from '../page/format.js';
import { DataFile, type Pager, applyDelta, checkPage, isZeroPage } from '../page/pager.js';
import { CairnError, CorruptionError, IoError } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, lsnOffset, makeLsn, readLsn, writeLsn } from '../util/lsn.js';
import { logFileName } from '../log/file.js';
import { RETENTION_HINT } from '../log/retention.js';
import { INTERNAL_TXN } from '../txn/txn.js';
import { fileNameProblem } from './names.js';
import { Verified, checkAllPages, flushAll, openDataFile } from './check.js';

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

interface Pending {
  lsn: Lsn;
  rec: LogRecord;
  body: Buffer;
  /** body is a private copy (not a view into the reader's window). */
  own: boolean;
}

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

type RecordOf<N extends RecordName> = Extract<LogRecord, { type: N }>;
type PageRecord = RecordOf<'page_image' | 'page_delta'>;

/**
 * The redo pass: one pass over the log from the start point, each transaction's records kept
 * until its commit record is read (then applied, one handler per record type) or dropped.
 */
class Redo {
  readonly reader: LogReader;
  readonly result: RecoveryResult;
  /** Pages found sound on disk by redo, by file: checkAllPages needs not checksum them again. */
  readonly verified = new Map<DataFile, Verified>();
  private readonly pager: Pager;
  private readonly vfs: Vfs;
  // Two window buffers for all of the log, in turn (reader.ts): the records of an unfinished
  // transaction that lie in a window about to be filled again are copied first, each once
  // (pending[0 .. kept) are all copies already).
  private pending: Pending[] = [];
  private kept = 0;
  private pendingTxn = -1;
  // uid → file, from the data files present, then from the log as it goes.
  private readonly onDisk = new Map<number, DataFile>(); // files present before recovery, by uid
  /** Files in the last checkpoint's list, with the LSN that listed them. */
  private readonly listed = new Map<number, { name: string; at: Lsn }>();
  /** Files whose pages could not be placed yet (absent, and created before the log start). */
  private readonly missing = new Map<number, Lsn>();
  /** Pages torn in the data file and not yet rebuilt by an image: "uid/pgno" → LSN of the delta that found it. */
  private readonly broken = new Map<string, { file: DataFile; pgno: number; at: Lsn }>();
  private readonly blocks: PageBlocks;
  private readonly sizes = new Map<DataFile, number>();
  /** Page records replayed per file: a file grows by at most one page per record. */
  private readonly grown = new Map<DataFile, number>();

  /**
   * The redo handler of each record type of RECORD_TABLE (log/records.ts): a type added there
   * without one here does not compile.
   */
  private readonly handlers: { [N in RecordName]: (lsn: Lsn, rec: RecordOf<N>) => void } = {
    page_image: (lsn, rec) => this.applyPage(lsn, rec),
    page_delta: (lsn, rec) => this.applyPage(lsn, rec),
    file_create: (lsn, rec) => this.fileCreate(lsn, rec),
    file_remove: (_lsn, rec) => this.fileRemove(rec),
    file_rename: (lsn, rec) => this.fileRename(lsn, rec),
    // Nothing to redo: the pass reads these itself (a commit ends its transaction, a checkpoint
    // lists the files), and they are never among a transaction's records.
    commit: () => {},
    checkpoint: () => {},
  };

  constructor(
    private readonly ctx: RecoveryContext,
    private readonly opts: RecoveryOptions,
  ) {
    this.pager = ctx.pager;
    this.vfs = ctx.vfs;
    this.blocks = new PageBlocks(ctx.pager);
    this.reader = new LogReader(ctx.vfs, ctx.logDir, ctx.envId, { ...opts.pieces, reuseBuffer: true, beforeReuse: (reused) => this.keepPending(reused) });
    if (this.reader.files.length === 0) throw new CairnError('NOT_FOUND', `no log files in ${ctx.logDir}; nothing to recover from`);
    const start = opts.from ?? makeLsn(this.reader.files[0]!, 64);
    this.result = { start, end: start, committed: 0, maxTxn: 0, lastCheckpoint: 0, logBytes: 0, pagesRedone: 0 };
  }

  private keepPending(reused: Buffer): void {
    const { pending } = this;
    for (let i = this.kept; i < pending.length; i++) {
      const p = pending[i]!;
      if (p.own || !within(p.body, reused)) continue;
      p.body = copyOf(p.body);
      p.rec = this.reader.decode({ lsn: p.lsn, next: p.lsn, body: p.body });
      p.own = true;
    }
    while (this.kept < pending.length && pending[this.kept]!.own) this.kept++;
  }

  /** Opens the data files present before recovery; refuses one that needs log files not here. */
  openDataFiles(): void {
    const { ctx, opts, reader, vfs } = this;
    for (const [name, p] of ctx.listDataFiles()) {
      const file = openDataFile(vfs, name, p, ctx.envId);
      if (file === undefined) continue;
      this.onDisk.set(file.uid, file);
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
  }

  private known(uid: number): DataFile | undefined {
    return this.pager.files.get(uid) ?? this.adopt(uid);
  }

  private adopt(uid: number): DataFile | undefined {
    const f = this.onDisk.get(uid);
    if (f !== undefined) this.pager.addFile(f);
    return f;
  }

  private diskSize(file: DataFile): number {
    let n = this.sizes.get(file);
    if (n === undefined) {
      n = this.vfs.stat(file.path)?.size ?? 0;
      this.sizes.set(file, n);
    }
    return n;
  }

  /** The pass over the log; sets result.end (and stoppedAt when an until* option stops it). */
  replay(): void {
    const { ctx, opts, reader, result } = this;
    let stopped = false;
    let lastEnd = result.start;
    let nextReport = 0;
    const { start } = result;
    const logTotal = ctx.progress && reader.files.filter((n) => n >= lsnFile(start)).reduce((sum, n) => sum + (this.vfs.stat(reader.pathOf(n))?.size ?? 0), 0) - lsnOffset(start); // progress: an upper bound (the last file is preallocated)
    for (const raw of reader.records(opts.from)) {
      if (opts.untilLsn !== undefined && raw.lsn >= opts.untilLsn) {
        // Cut at a transaction boundary: the unfinished transaction's records go too.
        result.stoppedAt = this.pending.length > 0 ? this.pending[0]!.lsn : raw.lsn;
        stopped = true;
        break;
      }
      const rec = reader.decode(raw);
      if (rec.type !== 'page_image' && rec.type !== 'page_delta') checkRecord(rec, () => [reader.pathOf(lsnFile(raw.lsn)), lsnOffset(raw.lsn)]);
      result.logBytes += raw.next - raw.lsn;
      if (rec.type === 'commit') {
        if (opts.untilTime !== undefined && rec.time > opts.untilTime && rec.txn !== INTERNAL_TXN) {
          result.stoppedAt = this.pending.length > 0 ? this.pending[0]!.lsn : raw.lsn;
          stopped = true;
          break;
        }
        this.commit(rec);
      } else if (rec.type === 'checkpoint') {
        this.checkpoint(raw.lsn, rec);
      } else {
        this.keep(raw, rec);
      }
      lastEnd = raw.next;
      if (ctx.progress && result.logBytes >= nextReport) {
        ctx.progress({ phase: 'recovery', done: result.logBytes, total: logTotal, unit: 'bytes' });
        nextReport += 256 * 1024;
      }
    }
    ctx.progress?.({ phase: 'recovery', done: result.logBytes, total: result.logBytes, unit: 'bytes' }); // the end: all of the log replayed
    result.end = stopped ? result.stoppedAt! : (reader.end ?? lastEnd);
  }

  /** A transaction's record: kept until its commit; another transaction's drops the unfinished one. */
  private keep(raw: { lsn: Lsn; body: Buffer }, rec: Exclude<LogRecord, { type: 'commit' | 'checkpoint' }>): void {
    if (rec.txn !== this.pendingTxn) {
      this.pending = [];
      this.kept = 0;
      this.pendingTxn = rec.txn;
    }
    this.result.maxTxn = Math.max(this.result.maxTxn, rec.txn);
    this.pending.push({ lsn: raw.lsn, rec, body: raw.body, own: false });
  }

  private commit(rec: RecordOf<'commit'>): void {
    const { result } = this;
    if (rec.txn === this.pendingTxn) this.applyTxn(this.pending);
    this.pending = [];
    this.kept = 0;
    this.pendingTxn = -1;
    // Transaction 0 is a checkpoint's own (the meta pages' needsLog): not a user commit.
    if (rec.txn !== INTERNAL_TXN) {
      result.committed++;
      result.maxTxn = Math.max(result.maxTxn, rec.txn);
      result.lastCommit = rec.time;
      result.firstCommit ??= rec.time;
    }
  }

  private checkpoint(lsn: Lsn, rec: RecordOf<'checkpoint'>): void {
    this.result.lastCheckpoint = lsn;
    this.listed.clear();
    for (const line of rec.files.split('\n')) {
      const sp = line.indexOf(' ');
      if (sp > 0) this.listed.set(Number(line.slice(0, sp)), { name: line.slice(sp + 1), at: lsn });
    }
  }

  private applyTxn(pending: Pending[]): void {
    for (const { lsn, rec } of pending) {
      if (rec.type.startsWith('file_')) this.blocks.drop();
      (this.handlers[rec.type] as (lsn: Lsn, rec: LogRecord) => void)(lsn, rec);
    }
  }

  private applyPage(lsn: Lsn, rec: PageRecord): void {
    const { pager } = this;
    const file = this.known(rec.file);
    if (file === undefined) {
      if (!this.missing.has(rec.file)) this.missing.set(rec.file, lsn);
      return;
    }
    this.checkPageRecord(file, lsn, rec);
    // Whatever the page holds now, after recovery it must carry this record's LSN (lsnmap.ts).
    pager.lsns.set(file.uid, rec.pgno, lsn);
    let buf: Buffer;
    let valid: boolean;
    const cached = file.pages.get(rec.pgno);
    if (cached !== undefined) {
      buf = cached.buf;
      valid = true;
    } else if ((rec.pgno + 1) * file.pageSize > this.diskSize(file)) {
      buf = EMPTY; // past the end of the file: never written
      valid = false;
    } else {
      buf = this.blocks.page(file, rec.pgno); // a view: copied below before it is changed
      valid = checkPage(buf, rec.pgno, file.uid) === undefined;
    }
    const pageLsn = valid ? readLsn(buf, PageOffset.lsnFile) : 0;
    if (valid && cached === undefined) {
      let v = this.verified.get(file);
      if (v === undefined) this.verified.set(file, (v = new Verified()));
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
      if (this.broken.size > 0) this.broken.delete(`${file.uid}/${rec.pgno}`);
    } else {
      if (!valid) {
        const key = `${file.uid}/${rec.pgno}`;
        if (!this.broken.has(key)) this.broken.set(key, { file, pgno: rec.pgno, at: lsn });
        return;
      }
      next = cached !== undefined ? buf : copyOf(buf);
      this.redoDelta(file, lsn, rec, pageLsn, next);
    }
    writeLsn(next, PageOffset.lsnFile, lsn);
    if (cached === undefined) pager.install(file, rec.pgno, next, 0, false);
    this.result.pagesRedone++;
  }

  /** Refuses a page record that cannot be this file's: a page number past its growth, an image of another page (I6). */
  private checkPageRecord(file: DataFile, lsn: Lsn, rec: PageRecord): void {
    const { reader } = this;
    // Pages are allocated one at a time at the end of a file, each with a record: a page number
    // beyond the file's pages plus the records replayed so far is a damaged record, which must
    // not size a write or the page LSN map.
    const g = this.grown.get(file) ?? 0;
    if (rec.pgno > Math.ceil(this.diskSize(file) / file.pageSize) + g) {
      throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsnOffset(lsn), `${rec.type} record for page ${rec.pgno} of ${file.path}, which cannot have more than ${Math.ceil(this.diskSize(file) / file.pageSize) + g} pages at this point of the log`);
    }
    this.grown.set(file, g + 1);
    if (rec.type === 'page_image') {
      // An image carries its page's identity (I6): a record whose image is another page, of
      // another file or of another size would put it at the wrong place.
      const img = rec.image;
      if (img.length !== file.pageSize || img.readUInt32LE(PageOffset.pgno) !== rec.pgno || img.readUInt32LE(PageOffset.fileUid) !== file.uid) {
        throw new CorruptionError(reader.pathOf(lsnFile(lsn)), lsnOffset(lsn), `page image record for page ${rec.pgno} of ${file.path} holds ${img.length >= PageOffset.fileUid + 4 ? `page ${img.readUInt32LE(PageOffset.pgno)} of file id ${img.readUInt32LE(PageOffset.fileUid)}` : 'no page'} (${img.length} bytes, pages are ${file.pageSize})`);
      }
    }
  }

  /** Applies a page_delta onto `next`, a sound copy of the page found at `pageLsn` (I7: it must be the delta's `prev`). */
  private redoDelta(file: DataFile, lsn: Lsn, rec: RecordOf<'page_delta'>, pageLsn: Lsn, next: Buffer): void {
    if (pageLsn !== rec.prev) {
      throw new CorruptionError(
        this.reader.pathOf(lsnFile(lsn)),
        lsnOffset(lsn),
        `log sequence error: page ${rec.pgno} of ${file.path} has LSN ${formatLsn(pageLsn)} but the change at ${formatLsn(lsn)} follows ${formatLsn(rec.prev)}; log records between them are missing (the data file is older than the first log file, or a log file is missing): copy the data files again and then the logs`,
      );
    }
    try {
      applyDelta(next, rec.ranges);
    } catch (e) {
      throw new CorruptionError(this.reader.pathOf(lsnFile(lsn)), lsnOffset(lsn), (e as Error).message);
    }
  }

  private fileCreate(lsn: Lsn, rec: RecordOf<'file_create'>): void {
    const { ctx, pager, vfs } = this;
    this.missing.delete(rec.file);
    if (this.known(rec.file) !== undefined) return;
    const p = ctx.resolve(rec.name);
    if (!mayCreateOver(vfs, p)) {
      throw new CorruptionError(this.reader.pathOf(lsnFile(lsn)), lsnOffset(lsn), `file_create record of transaction ${rec.txn} names ${p}, which is a symbolic link or a file that is not a cairn data file; recovery never writes through a link or over another file: move it away, then recover again`);
    }
    const existing = vfs.stat(p) !== undefined ? openDataFile(vfs, rec.name, p, ctx.envId) : undefined;
    if (existing !== undefined && existing.uid !== rec.file) {
      // The name now belongs to a later incarnation of the file: this one was removed later.
      return;
    }
    pager.addFile(new DataFile(rec.name, p, rec.file, rec.pageSize));
  }

  private fileRemove(rec: RecordOf<'file_remove'>): void {
    const { pager, vfs } = this;
    const f = this.known(rec.file);
    if (f !== undefined) {
      if (vfs.stat(f.path) !== undefined) {
        f.handle?.close();
        f.handle = undefined;
        vfs.unlink(f.path);
        vfs.syncDir(path.dirname(f.path));
      }
      pager.dropFile(f);
    }
    this.missing.delete(rec.file);
    for (const k of [...this.broken.keys()]) if (k.startsWith(`${rec.file}/`)) this.broken.delete(k);
  }

  private fileRename(lsn: Lsn, rec: RecordOf<'file_rename'>): void {
    const { vfs } = this;
    const f = this.known(rec.file);
    if (f === undefined) return;
    const to = this.ctx.resolve(rec.newName);
    if (!mayCreateOver(vfs, to)) {
      throw new CorruptionError(this.reader.pathOf(lsnFile(lsn)), lsnOffset(lsn), `file_rename record of transaction ${rec.txn} renames to ${to}, which is a symbolic link or a file that is not a cairn data file; recovery never renames over one: move it away, then recover again`);
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

  /** What could not be placed: a listed data file missing, a torn page no image rebuilt. */
  checkPlaced(): void {
    for (const [uid, at] of this.missing) {
      const l = this.listed.get(uid);
      if (l !== undefined) {
        throw new CairnError('NOT_FOUND', `data file ${fileNameProblem(l.name) === undefined ? l.name : JSON.stringify(l.name)} (listed by the checkpoint at ${formatLsn(l.at)}, changed at ${formatLsn(at)}) is missing; copy it into the environment and recover again`);
      }
    }
    for (const b of this.broken.values()) {
      throw new CorruptionError(b.file.path, b.pgno * b.file.pageSize, `page ${b.pgno} is damaged (torn or overwritten) and the log from ${formatLsn(b.at)} holds no full image to rebuild it; copy the data file again after a checkpoint, then the logs`);
    }
  }
}

export function recover(ctx: RecoveryContext, opts: RecoveryOptions): RecoveryResult {
  const redo = new Redo(ctx, opts);
  redo.openDataFiles();
  opts.onStart?.();
  redo.replay();
  redo.checkPlaced();
  // The log we redid from must be durable before pages that depend on it are written (I1).
  syncLastLog(ctx.vfs, redo.reader);
  flushAll(ctx.pager);
  if (opts.checkAllPages) checkAllPages(ctx.pager, ctx, redo.result.end, 'the log files were copied before the data files (copy data files first, then logs), or log files are missing at the end', redo.verified);
  return redo.result;
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
