// The buffer pool: data files, cached page versions, snapshots and copy-on-write page sets
// for transactions (docs/DESIGN.md §Transactions and concurrency: snapshots, point reads' frames, eviction).
//
// Every installed page buffer is immutable: a commit never changes a cached buffer, it
// installs a new one (the transaction's private copy) and, while a snapshot older than the
// commit is open, keeps the old one in the page's history. Only once nothing can read a buffer
// any more is it recycled as a spare for a later copy (docs/DESIGN.md §Page arena). A reader at snapshot sequence S
// reads the newest version installed at a sequence ≤ S. Pages are written to data files by
// checkpoints, by write-back (dirty committed pages written between checkpoints so that they can
// leave the cache) and by recovery, always after the log is durable through their LSN (I1), so
// the page cache holds no uncommitted data (no-steal) and recovery only redoes.

import * as path from 'node:path';
import type { FileHandle, Vfs } from '../io/vfs.js';
import type { PageReader, PageWriter } from '../btree/store.js';
import { assert } from '../util/assert.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { type Lsn, formatLsn, readLsn } from '../util/lsn.js';
import { zlib } from '../util/node.js';
import { NO_PAGE, PAGE_HEADER_SIZE, PageOffset, type PageType } from './format.js';
import { DATA_MAGIC, MetaOffset } from './meta.js';
import { PageLsnMap } from './lsnmap.js';
import { planted } from '../util/plant.js'; // PLANT: the planted-bug yardstick (src/util/plant.ts)

/**
 * `CAIRN_CHECK_ARENA=1`: every page buffer that would go back to the spares (`Pager.recycle`)
 * is filled with `POISON` instead and never reused, so a holder that reads it later reads
 * garbage (a structure or checksum error, or wrong data) instead of a newer page's bytes.
 * `poisoned` counts them.
 */
export const arenaCheck: { on: boolean; poisoned: number } = { on: process.env['CAIRN_CHECK_ARENA'] === '1', poisoned: 0 };
export const POISON = 0xdb;

/** What `CAIRN_CHECK_ARENA=1` does instead of keeping a buffer as a spare. */
function poison(buf: Buffer): void {
  buf.fill(POISON);
  arenaCheck.poisoned++;
}

export interface PageVersion {
  buf: Buffer;
  /** Commit sequence that installed it (0: as read from disk). */
  seq: number;
}

export class CachedPage {
  buf: Buffer;
  seq: number;
  dirty = false;
  /** Checkpoint epoch in which this page's full image was last logged (I4). */
  imageEpoch = -1;
  /** Recently used (CLOCK bit). */
  ref = true;
  /** Older versions still visible to open snapshots, oldest first. */
  history: PageVersion[] | null = null;
  /**
   * The buffer as loaded from disk while no caller has been given it except through
   * `Pager.peek` (whose callers keep no reference): when evicted, it is reused for the next
   * load. null once `read` has handed it out (or a commit replaced it).
   */
  frame: Buffer | null = null;
  constructor(buf: Buffer, seq: number) {
    this.buf = buf;
    this.seq = seq;
  }
}

/** One data file: its identity and its cached pages. */
export class DataFile {
  name: string;
  path: string;
  readonly uid: number;
  readonly pageSize: number;
  readonly pages = new Map<number, CachedPage>();
  handle: FileHandle | undefined;
  /** Set when a committed transaction removed the file. */
  removed = false;
  /** The meta page's needsLog when the file was opened from disk (0: none recorded). */
  needsLog = 0;
  /**
   * At least as many pages as the file holds on disk (`Pager.pagesOnDisk`): its size when
   * `sizedHandle` was opened, raised by every page written through it since (data files only
   * grow, and only `Pager.writePage` writes them).
   */
  diskPages = 0;
  sizedHandle: FileHandle | undefined;
  /**
   * Per page number, 1 + the checkpoint epoch in which the page's full image was last logged,
   * kept when the page leaves the cache (0: unknown). A page written back, evicted and read again
   * in the same epoch needs no second image (I4 asks for one per page per checkpoint).
   */
  imageEpochs = new Uint32Array(0);
  constructor(name: string, filePath: string, uid: number, pageSize: number) {
    this.name = name;
    this.path = filePath;
    this.uid = uid;
    this.pageSize = pageSize;
  }
}

/** The image epoch a page had when it left the cache (-1: none kept). Bounds checked: a read past a typed array's end is slow in V8. */
function keptImageEpoch(file: DataFile, pgno: number): number {
  const a = file.imageEpochs;
  return pgno < a.length ? a[pgno]! - 1 : -1;
}

let zeros = Buffer.alloc(0);
/** True when every byte of the page is zero (never written, or past the end of the file). */
export function isZeroPage(buf: Buffer): boolean {
  if (zeros.length < buf.length) zeros = Buffer.alloc(buf.length);
  return buf.equals(zeros.subarray(0, buf.length));
}

export function pageChecksum(buf: Buffer): number {
  return zlib.crc32(buf.subarray(4));
}

/**
 * Checks a page read from disk: checksum, own page number, own file (I6). Returns a reason or
 * undefined when the page is sound.
 */
export function checkPage(buf: Buffer, pgno: number, uid: number): string | undefined {
  if (buf.readUInt32LE(PageOffset.checksum) !== pageChecksum(buf)) {
    if (planted('page-ignore-checksum') && !isZeroPage(buf)) return undefined; // PLANT(page-ignore-checksum)
    return isZeroPage(buf) ? 'page was never written (all zeros)' : 'page checksum mismatch';
  }
  const own = buf.readUInt32LE(PageOffset.pgno);
  if (own !== pgno) return `page ${own} found at the place of page ${pgno} (misdirected write)`;
  const fileUid = buf.readUInt32LE(PageOffset.fileUid);
  if (fileUid !== uid) return `page belongs to another file (file id ${fileUid}, expected ${uid})`;
  return undefined;
}

/** The B-tree's structural check of a page entering the cache from disk (btree/pagecheck.ts registers it; issue 21). */
let contentCheck: ((buf: Buffer, pgno: number) => void) | undefined;
export function setPageContentCheck(check: (buf: Buffer, pgno: number) => void): void {
  contentCheck = check;
}

/**
 * The B-tree knows pages, not files: its structure errors name `page N` and an offset within the
 * page. Callers that know the data file turn them into the file's path and byte offset (I6).
 */
export function locateCorruption(e: unknown, file: DataFile): unknown {
  if (!(e instanceof CorruptionError)) return e;
  const m = /^page (\d+)$/.exec(e.file);
  if (m === null) return e;
  const pgno = Number(m[1]);
  const located = new CorruptionError(file.path, pgno * file.pageSize + e.offset, `page ${pgno}: ${e.what}`);
  located.stack = e.stack;
  return located;
}

/** Runs `fn`, locating a B-tree corruption error in `file`. */
export function inFile<T>(file: DataFile, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw locateCorruption(e, file);
  }
}

export interface PagerOptions {
  cacheSize: number;
  /** Past this many bytes of older page versions kept for snapshots, the oldest snapshots are invalidated (default: never). */
  historyLimit?: number;
}

export class Pager {
  readonly vfs: Vfs;
  private readonly opts: PagerOptions;
  readonly files = new Map<number, DataFile>();
  /** Commit sequence of the latest installed transaction. */
  seq = 0;
  /** Bumped at each checkpoint's redo point; a page's first change in a new epoch is logged whole (I4). */
  epoch = 0;
  private snapshots = new Map<number, number>();
  private withHistory = new Set<CachedPage>();
  /** Bytes of the older page versions kept for open snapshots (CachedPage.history). */
  historyBytes = 0;
  /** Snapshots invalidated for keeping too much history (F15): sequence → holders yet to release it. */
  private tooOld = new Map<number, number>();
  private limitQueued = false;
  /** tooOld: snapshot holders invalidated; reclaimed: holders released because they were garbage collected (src/txn/forgotten.ts). */
  readonly snapshotStats = { tooOld: 0, reclaimed: 0 };
  private cached = 0;
  private dirtyCount = 0;
  /** install() scans for pages to evict only from this many cached pages on (see trim). */
  private evictRetryAt = 0;
  private trimQueued = false;
  private pressureQueued = false;
  /** framesReused: loads into a spare buffer; sparesReused: private copies and new pages made in one (docs/DESIGN.md §Page arena). */
  readonly stats = { hits: 0, misses: 0, evictions: 0, pagesWritten: 0, framesReused: 0, sparesReused: 0, writeBacks: 0, pagesWrittenBack: 0 };
  /** Data files written since their last fsync: a checkpoint fsyncs them before its record claims their pages. */
  readonly unsynced = new Set<DataFile>();
  /** The LSN each page on disk must carry (a stale copy is caught when read: lsnmap.ts). */
  lsns = new PageLsnMap();
  /** Called when dirty pages fill half the cache: the environment starts a write-back. */
  onPressure: (() => void) | undefined;

  constructor(vfs: Vfs, opts: PagerOptions) {
    this.vfs = vfs;
    this.opts = opts;
  }

  get cacheSize(): number {
    return this.opts.cacheSize;
  }

  addFile(file: DataFile): void {
    this.files.set(file.uid, file);
  }

  fileByName(name: string): DataFile | undefined {
    for (const f of this.files.values()) if (f.name === name && !f.removed) return f;
    return undefined;
  }

  dropFile(file: DataFile): void {
    for (const p of file.pages.values()) {
      if (p.dirty) this.dirtyCount--;
      if (p.history !== null) for (const v of p.history) this.historyBytes -= v.buf.length;
      this.withHistory.delete(p);
    }
    this.cached -= file.pages.size;
    file.pages.clear();
    this.lsns.drop(file.uid);
    this.unsynced.delete(file);
    file.handle?.close();
    file.handle = undefined;
    this.files.delete(file.uid);
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /** Registers a snapshot at the current sequence; release it with releaseSnapshot. */
  openSnapshot(): number {
    const seq = this.seq;
    this.snapshots.set(seq, (this.snapshots.get(seq) ?? 0) + 1);
    return seq;
  }

  releaseSnapshot(seq: number): void {
    const n = this.snapshots.get(seq);
    if (n === undefined && this.tooOld.has(seq)) {
      // Invalidated (enforceLimit): its history went then.
      const k = this.tooOld.get(seq)!;
      if (k > 1) this.tooOld.set(seq, k - 1);
      else this.tooOld.delete(seq);
      return;
    }
    assert(n !== undefined, `snapshot ${seq} released twice`);
    if (n > 1) this.snapshots.set(seq, n - 1);
    else {
      this.snapshots.delete(seq);
      this.pruneHistory();
    }
  }

  get openSnapshots(): number {
    let n = 0;
    for (const c of this.snapshots.values()) n += c;
    return n;
  }

  /** Throws SNAPSHOT_TOO_OLD when the snapshot at `seq` was invalidated (its holder's next step). */
  checkSnapshot(seq: number): void {
    if (this.tooOld.size > 0 && this.tooOld.has(seq)) {
      throw new CairnError(
        'SNAPSHOT_TOO_OLD',
        `this snapshot (a transaction, iterator or cursor) was invalidated: while it stayed open, the page versions it kept passed the snapshotLimit of ${this.opts.historyLimit} bytes; end iterators and transactions sooner, or raise snapshotLimit`,
      );
    }
  }

  /**
   * F15: while the older page versions kept for snapshots exceed the limit, the oldest snapshot is
   * invalidated (its holders get SNAPSHOT_TOO_OLD on their next step: checkSnapshot) and the
   * versions only it needed go. Its holders never read a page again, so its buffers may be recycled.
   */
  private enforceLimit(): void {
    const limit = this.opts.historyLimit ?? Infinity;
    while (this.historyBytes > limit && this.snapshots.size > 0) {
      const min = this.minSnapshot();
      if (min >= this.seq) break;
      const n = this.snapshots.get(min)!;
      this.snapshots.delete(min);
      this.tooOld.set(min, (this.tooOld.get(min) ?? 0) + n);
      this.snapshotStats.tooOld += n;
      this.pruneHistory();
    }
  }

  /**
   * Open snapshots, oldest first: sequence, holders, and the bytes of older page versions each
   * needs (a version kept for several snapshots counts for each).
   */
  snapshotReport(): Array<{ seq: number; holders: number; pinnedBytes: number }> {
    const seqs = [...this.snapshots.keys()].sort((a, b) => a - b);
    const bytes = seqs.map(() => 0);
    for (const p of this.withHistory) {
      const h = p.history!;
      for (let i = 0; i < h.length; i++) {
        // Version i is read by snapshots from its seq up to (not including) the next version's.
        const from = h[i]!.seq;
        const to = h[i + 1]?.seq ?? p.seq;
        let lo = 0;
        let hi = seqs.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (seqs[mid]! < from) lo = mid + 1;
          else hi = mid;
        }
        for (let j = lo; j < seqs.length && seqs[j]! < to; j++) bytes[j]! += h[i]!.buf.length;
      }
    }
    return seqs.map((seq, i) => ({ seq, holders: this.snapshots.get(seq)!, pinnedBytes: bytes[i]! }));
  }

  private maxSnapshot(): number {
    let max = -Infinity;
    for (const s of this.snapshots.keys()) if (s > max) max = s;
    return max;
  }

  private minSnapshot(): number {
    let min = Infinity;
    for (const s of this.snapshots.keys()) if (s < min) min = s;
    return min;
  }

  private pruneHistory(): void {
    const min = this.minSnapshot();
    for (const p of this.withHistory) {
      const h = p.history!;
      // A version is needed while some snapshot ≥ its seq is older than the next version.
      let drop = 0;
      while (drop < h.length && (h[drop + 1]?.seq ?? p.seq) <= min) drop++;
      if (drop > 0) {
        // No open snapshot reads them (each reads a newer version), and every reader that kept
        // one held a snapshot it has released: spares, unless a held page list writes them.
        for (let i = 0; i < drop; i++) {
          this.historyBytes -= h[i]!.buf.length;
          if (!this.held.has(h[i]!.buf)) this.recycle(h[i]!.buf, p.buf.length);
        }
        h.splice(0, drop);
      }
      if (h.length === 0) {
        p.history = null;
        this.withHistory.delete(p);
      }
    }
  }

  // ---- reading -----------------------------------------------------------------------------

  /** The version of a page visible at sequence `seq` (Infinity: latest committed). */
  read(file: DataFile, pgno: number, seq: number): Buffer {
    if (this.tooOld.size > 0) this.checkSnapshot(seq);
    let p = file.pages.get(pgno);
    if (p === undefined) {
      p = this.load(file, pgno, false);
      this.stats.misses++;
    } else this.stats.hits++;
    p.ref = true;
    p.frame = null; // the caller may keep the buffer: never reuse it
    if (p.seq <= seq) return p.buf;
    const h = p.history;
    if (h !== null) {
      for (let i = h.length - 1; i >= 0; i--) if (h[i]!.seq <= seq) return h[i]!.buf;
    }
    assert(false, `no version of page ${pgno} of ${file.name} for snapshot ${seq}`);
  }

  /**
   * The latest committed version of a page, for a caller that keeps no reference to the buffer
   * once it returns (a point read that copies what it returns): a page loaded for such callers
   * only is a reusable frame (`CachedPage.frame`), so a read that misses the cache does not
   * allocate a new buffer. Checked exactly as `read` (I6).
   */
  peek(file: DataFile, pgno: number): Buffer {
    let p = file.pages.get(pgno);
    if (p === undefined) {
      p = this.load(file, pgno, true);
      this.stats.misses++;
    } else this.stats.hits++;
    p.ref = true;
    return p.buf;
  }

  // The page arena (docs/DESIGN.md §Page arena): spare page buffers that nobody references,
  // handed out by `load`, `FilePages.writable`, `allocate` and `free` instead of new ones. About a
  // tenth of the cache at most (`spares` and `freed` together; always room for one). A frame evicted while a `peek` caller
  // runs may still be in that caller's hands (a descent holds its page while an overflow chain is
  // read, and each load may evict), so it waits in `freed` until the caller has returned and
  // calls `settle`.
  private readonly spares: Buffer[] = [];
  private readonly freed: Buffer[] = [];
  /** Buffers of page lists alive across awaits (a checkpoint's or write-back's: `hold`), with how many lists hold each: never recycled. */
  private readonly held = new Map<Buffer, number>();

  /**
   * Keeps the buffers of a page list taken by `collectDirty` or `collectWriteBack` from being
   * recycled while the list is in use (it is written across awaits, and `markClean` compares
   * buffer identity); call the returned function once, when the list is no longer used.
   */
  hold(pages: ReadonlyArray<{ buf: Buffer }>): () => void {
    const held = this.held;
    for (const d of pages) held.set(d.buf, (held.get(d.buf) ?? 0) + 1);
    let holding = true;
    return () => {
      if (!holding) return;
      holding = false;
      for (const d of pages) {
        const n = held.get(d.buf)!;
        if (n > 1) held.set(d.buf, n - 1);
        else held.delete(d.buf);
      }
    };
  }

  /** Can this committed buffer, which nobody else was handed, be recycled now? No snapshot may read it, no held page list write it. */
  private unshared(buf: Buffer): boolean {
    return (this.snapshots.size === 0 || planted('arena-ignore-snapshots')) && !this.held.has(buf); // PLANT(arena-ignore-snapshots)
  }

  /** A spare buffer of `pageSize` bytes (contents stale: the caller overwrites all of it), or undefined. */
  spare(pageSize: number): Buffer | undefined {
    const buf = this.spares.pop();
    return buf !== undefined && buf.length === pageSize ? buf : undefined;
  }

  private roomForSpare(pageSize: number): boolean {
    return (this.spares.length + this.freed.length) * 10 * pageSize < this.opts.cacheSize;
  }

  /** Gives back a page buffer that nobody references any more (the caller has proved it): a spare, or poison (`arenaCheck`). */
  recycle(buf: Buffer, pageSize: number): void {
    if (buf.length !== pageSize) return;
    if (arenaCheck.on) poison(buf);
    else if (this.roomForSpare(pageSize)) this.spares.push(buf);
  }

  /**
   * Called for a clean page leaving the cache: keeps its buffer if nobody else may hold it. A
   * frame (given only to `peek` callers) waits for `settle`. Any other buffer is recycled only
   * `between` operations (trim, a microtask after a commit: no caller is half way through a
   * descent) while no snapshot is open and no page list is held — every reader that keeps a page
   * from one call to the next (cursor, iterator, transaction) holds a snapshot.
   */
  private release(p: CachedPage, pageSize: number, between: boolean): void {
    if (p.buf.length === pageSize) {
      if (p.frame === p.buf) {
        if (arenaCheck.on || this.roomForSpare(pageSize)) this.freed.push(p.buf);
      } else if (between && this.unshared(p.buf)) this.recycle(p.buf, pageSize);
    }
    p.frame = null;
  }

  /** Ends a `peek` caller's operation: frames evicted during it may now be reused. */
  settle(): void {
    const f = this.freed;
    if (f.length === 0) return;
    for (let i = 0; i < f.length; i++) {
      if (arenaCheck.on) poison(f[i]!);
      else this.spares.push(f[i]!);
    }
    f.length = 0;
  }

  /** Reads and checks a page and caches it; `frame`: loaded for `peek`, its buffer reusable (set before the eviction below, which may drop this very page). */
  private load(file: DataFile, pgno: number, frame: boolean): CachedPage {
    const into = this.spare(file.pageSize);
    if (into !== undefined) this.stats.framesReused++;
    const buf = this.readFromDisk(file, pgno, into);
    const why = checkPage(buf, pgno, file.uid) ?? this.checkLsn(file, pgno, buf);
    if (why !== undefined) throw new CorruptionError(file.path, pgno * file.pageSize, why);
    if (pgno === 0) this.checkMetaCounts(file, buf);
    else if (contentCheck !== undefined) inFile(file, () => contentCheck!(buf, pgno));
    const p = this.cachePage(file, pgno, buf, 0);
    if (frame) p.frame = buf;
    if (this.cached * file.pageSize > this.opts.cacheSize) this.evict(file.pageSize);
    return p;
  }

  /**
   * The page numbers of a meta page read from disk, before anything loops over, sizes or
   * allocates by them (issue 21, F11): a checkpoint writes the meta page after every page below
   * its page count, so a count beyond the file, a free list head or catalog root outside the
   * count, is damage (or a crafted file), reported once, with the field's offset.
   */
  private checkMetaCounts(file: DataFile, buf: Buffer): void {
    if (!DATA_MAGIC.equals(buf.subarray(MetaOffset.magic, MetaOffset.magic + 8))) return; // not a meta page at all: readMeta says so
    const count = buf.readUInt32LE(MetaOffset.pageCount);
    const onDisk = this.pagesOnDisk(file);
    const bad = (field: number, what: string): never => {
      throw new CorruptionError(file.path, field, `${what}; run db_verify, then restore the file from a backup or db_recover -c`);
    };
    if (count > onDisk) bad(MetaOffset.pageCount, `page count ${count} exceeds the file (${onDisk} pages)`);
    if (count < 2) bad(MetaOffset.pageCount, `page count ${count} is too small (a data file has a meta page and a catalog root)`);
    const free = buf.readUInt32LE(MetaOffset.freeHead);
    if (free >= count) bad(MetaOffset.freeHead, `free list head ${free} is not a page of the file (page count ${count})`);
    const cat = buf.readUInt32LE(MetaOffset.catalogRoot);
    if (cat === 0 || cat >= count) bad(MetaOffset.catalogRoot, `catalog root ${cat} is not a page of the file (page count ${count})`);
  }

  /**
   * Whether page pgno, at or past the latest committed page count, holds anything: it is cached
   * (installed), or on disk and not all zeros. Never so in a sound file (allocate relies on it).
   */
  holdsData(file: DataFile, pgno: number): boolean {
    if (file.pages.has(pgno)) return true;
    if (pgno >= this.pagesOnDisk(file)) return false;
    return !isZeroPage(this.readFromDisk(file, pgno));
  }

  /**
   * The committed version of an uncached page, from disk, for snapshots older than a commit that
   * replaces it (only clean pages leave the cache, so the disk holds the latest committed
   * version). Undefined when the page has no sound version on disk (a page new at the end of the
   * file: no snapshot refers to it) or cannot be read: the commit installs regardless, and a
   * snapshot that does need the page then fails on it instead of reading a newer version.
   */
  private loadOlder(file: DataFile, pgno: number): CachedPage | undefined {
    // A page new at the end of the file (a split's, during a load: most installs) has nothing on disk to read.
    if (pgno >= this.pagesOnDisk(file)) return undefined;
    let buf: Buffer;
    try {
      buf = this.readFromDisk(file, pgno);
    } catch {
      return undefined;
    }
    if ((checkPage(buf, pgno, file.uid) ?? this.checkLsn(file, pgno, buf)) !== undefined) return undefined;
    // Not through load(): its eviction could drop this very page before the caller installs over it.
    return this.cachePage(file, pgno, buf, 0);
  }

  /** Caches a page that is not cached, with the image epoch it had when it left the cache. */
  private cachePage(file: DataFile, pgno: number, buf: Buffer, seq: number): CachedPage {
    const p = new CachedPage(buf, seq);
    p.imageEpoch = keptImageEpoch(file, pgno);
    file.pages.set(pgno, p);
    this.cached++;
    return p;
  }

  /** Remembers the image epoch of a page leaving the cache (cachePage restores it). */
  private keepImageEpoch(file: DataFile, pgno: number, p: CachedPage): void {
    if (p.imageEpoch < 0) return;
    let a = file.imageEpochs;
    if (pgno >= a.length) {
      const grown = new Uint32Array(Math.max(pgno + 1, a.length * 2, 256));
      grown.set(a);
      file.imageEpochs = a = grown;
    }
    a[pgno] = p.imageEpoch + 1;
  }

  /** A reason when a sound page read from disk is not the version the LSN map expects (stale). */
  checkLsn(file: DataFile, pgno: number, buf: Buffer): string | undefined {
    const want = this.lsns.get(file.uid, pgno);
    if (want === 0 || planted('page-ignore-stale')) return undefined; // PLANT(page-ignore-stale)
    const have = readLsn(buf, PageOffset.lsnFile);
    if (have === want) return undefined;
    return `stale page: page ${pgno} has LSN ${formatLsn(have)} but the last change written to it is at ${formatLsn(want)} (a lost or misdirected write, or a data file from another time); restore the environment from a backup or the data file from a copy made with its logs, then run db_recover -c`;
  }

  /** Raw bytes of a page from the file (zeros past its end), into `into` if given. */
  readFromDisk(file: DataFile, pgno: number, into?: Buffer): Buffer {
    const buf = into ?? Buffer.allocUnsafe(file.pageSize);
    const h = this.handleOf(file, false);
    const n = h === undefined ? 0 : h.read(buf, pgno * file.pageSize);
    if (n < buf.length) buf.fill(0, n);
    return buf;
  }

  /** An upper bound on the pages the file holds on disk (0 when it does not exist): pages from there on were never written. */
  pagesOnDisk(file: DataFile): number {
    const h = this.handleOf(file, false);
    if (h === undefined) return 0;
    if (file.sizedHandle !== h) {
      file.diskPages = Math.ceil(h.size() / file.pageSize);
      file.sizedHandle = h;
    }
    return file.diskPages;
  }

  handleOf(file: DataFile, create: boolean): FileHandle | undefined {
    if (file.handle === undefined) {
      const exists = this.vfs.stat(file.path) !== undefined;
      if (!exists && !create) return undefined;
      // Never through a symbolic link (DESIGN.md §Data file names): a data file is a regular file in its data directory.
      file.handle = this.vfs.open(file.path, { create, noFollow: true });
      if (!exists) this.vfs.syncDir(path.dirname(file.path));
    }
    return file.handle;
  }

  /** Evicts clean pages down to 90% of the cache; `between`: called between operations (release). */
  private evict(pageSize: number, between = false): void {
    const target = Math.floor((this.opts.cacheSize * 0.9) / pageSize);
    for (let pass = 0; pass < 2 && this.cached > target; pass++) {
      for (const f of this.files.values()) {
        for (const [pgno, p] of f.pages) {
          if (this.cached <= target) return;
          if (p.dirty || p.history !== null) continue;
          if (p.ref) {
            p.ref = false;
            continue;
          }
          f.pages.delete(pgno);
          this.keepImageEpoch(f, pgno, p);
          this.release(p, f.pageSize, between);
          this.cached--;
          this.stats.evictions++;
        }
      }
    }
    this.pressure(pageSize);
  }

  /**
   * Asks for a write-back when dirty pages fill half the cache (they cannot be evicted before
   * they are written). In a microtask, never synchronously: pressure arises inside a commit
   * (install) or a B-tree descent (load), whose pages must not be written or marked clean half
   * way (nor, when the environment checkpoints instead, a redo point fall among one
   * transaction's records or installs: a page whose image was logged before the redo point would
   * count as imaged after it, I4).
   */
  private pressure(pageSize: number): void {
    if (this.pressureQueued || this.onPressure === undefined || this.dirtyCount * pageSize <= this.opts.cacheSize / 2) return;
    this.pressureQueued = true;
    queueMicrotask(() => {
      this.pressureQueued = false;
      if (this.dirtyCount * pageSize > this.opts.cacheSize / 2) this.onPressure?.();
    });
  }

  // ---- installing committed pages ----------------------------------------------------------

  /** Installs a committed page version at sequence `seq`. */
  install(file: DataFile, pgno: number, buf: Buffer, seq: number, image: boolean): void {
    let p = file.pages.get(pgno);
    // An evicted page changed while an older snapshot is open: that snapshot still needs the version on disk.
    if (p === undefined && this.snapshots.size > 0 && this.minSnapshot() < seq) p = this.loadOlder(file, pgno);
    if (p === undefined) p = this.cachePage(file, pgno, buf, seq);
    else {
      const old = p.buf;
      // The replaced version is kept only if an open snapshot reads it: one at or after the
      // sequence that installed it (all are before `seq`). Not every version since the oldest
      // snapshot: a snapshot held while commits go on then keeps at most one older version per
      // page, not one per commit (F15).
      if (this.snapshots.size > 0 && this.maxSnapshot() >= p.seq) {
        (p.history ??= []).push({ buf: old, seq: p.seq });
        this.withHistory.add(p);
        this.historyBytes += old.length;
        if (this.historyBytes > (this.opts.historyLimit ?? Infinity) && !this.limitQueued) {
          // After the commit's installs (a microtask, as trim): never half way through them.
          this.limitQueued = true;
          queueMicrotask(() => {
            this.limitQueued = false;
            this.enforceLimit();
          });
        }
      }
      p.buf = buf;
      p.seq = seq;
      p.frame = null;
      // The replaced version, unless a snapshot may read it or a held list write it: the
      // committing transaction (whose snapshot ended before its install) reads nothing any more.
      if (old !== buf && this.unshared(old)) this.recycle(old, file.pageSize);
    }
    if (!p.dirty) {
      p.dirty = true;
      this.dirtyCount++;
      this.pressure(file.pageSize);
    }
    if (image) p.imageEpoch = this.epoch;
    // A load that never reads from disk (a bulk load) must also keep the cache in its budget.
    // Not here: a commit installs its pages after reading their bases, and a base evicted in
    // between would lose the version older snapshots see. Once the commit is done (microtask).
    if (!this.trimQueued && this.cached * file.pageSize > this.opts.cacheSize && this.cached >= this.evictRetryAt) {
      this.trimQueued = true;
      const pageSize = file.pageSize;
      queueMicrotask(() => {
        this.trimQueued = false;
        this.trim(pageSize);
      });
    }
  }

  /**
   * Brings the cache back within its budget after installs: clean pages go (evict); dirty ones
   * wait for the write-back that pressure asks for. After a scan that could not get under the
   * budget (pages dirty or kept for snapshots), the next one waits until a page was made clean
   * or a tenth of the cache more was installed, so that commits do not rescan every time.
   */
  private trim(pageSize: number): void {
    if (this.cached * pageSize <= this.opts.cacheSize) return;
    if (this.cached - this.dirtyCount > this.cached / 10) this.evict(pageSize, true);
    else this.pressure(pageSize);
    if (this.cached * pageSize > this.opts.cacheSize) this.evictRetryAt = this.cached + Math.ceil(this.cached / 10);
  }

  /** Does the page's next change need a full image in the log (I4)? */
  needsImage(file: DataFile, pgno: number): boolean {
    const p = file.pages.get(pgno);
    if (planted('drop-page-image') && this.epoch > 0) return false; // PLANT(drop-page-image)
    // A page not cached: the epoch it had when it left the cache (cachePage restores the same).
    return (p !== undefined ? p.imageEpoch : keptImageEpoch(file, pgno)) < this.epoch;
  }

  get dirtyPages(): number {
    return this.dirtyCount;
  }

  get cachedPages(): number {
    return this.cached;
  }

  /** The dirty pages now: what a checkpoint must write. Buffers are immutable, so this is a consistent list. */
  collectDirty(): Array<{ file: DataFile; pgno: number; buf: Buffer; lsn: Lsn }> {
    const out: Array<{ file: DataFile; pgno: number; buf: Buffer; lsn: Lsn }> = [];
    for (const f of this.files.values()) {
      for (const [pgno, p] of f.pages) if (p.dirty) out.push({ file: f, pgno, buf: p.buf, lsn: readLsn(p.buf, PageOffset.lsnFile) });
    }
    out.sort((a, b) => a.file.uid - b.file.uid || a.pgno - b.pgno);
    return out;
  }

  /**
   * Up to `max` dirty pages for a write-back, those changed longest ago first (a page changed
   * recently is the likeliest to change again before it would leave the cache), in file and page
   * order. Never a meta page: only checkpoints write those, after the file's other pages (a
   * copy that finds a checkpoint's redo point in a meta page then needs no log before it).
   */
  collectWriteBack(max: number): Array<{ file: DataFile; pgno: number; buf: Buffer; lsn: Lsn }> {
    const all: Array<{ file: DataFile; pgno: number; buf: Buffer; lsn: Lsn }> = [];
    for (const f of this.files.values()) {
      if (f.removed) continue;
      for (const [pgno, p] of f.pages) if (p.dirty && pgno !== 0) all.push({ file: f, pgno, buf: p.buf, lsn: readLsn(p.buf, PageOffset.lsnFile) });
    }
    if (all.length > max) {
      all.sort((a, b) => a.lsn - b.lsn);
      all.length = Math.max(0, max);
    }
    all.sort((a, b) => a.file.uid - b.file.uid || a.pgno - b.pgno);
    return all;
  }

  /** Writes one page to its file (the caller has made the log durable through its LSN: I1). */
  writePage(file: DataFile, pgno: number, buf: Buffer): void {
    buf.writeUInt32LE(pageChecksum(buf), PageOffset.checksum);
    const h = this.handleOf(file, true)!;
    h.write(buf, pgno * file.pageSize);
    this.wrote(file, h, pgno, [buf]);
  }

  /** After pages pgno, pgno + 1, … were written through h: the file's size on disk, the page LSN map, the counter, the file to fsync. */
  private wrote(file: DataFile, h: FileHandle, pgno: number, bufs: readonly Buffer[]): void {
    this.unsynced.add(file);
    const last = pgno + bufs.length - 1;
    if (file.sizedHandle === h && last >= file.diskPages) file.diskPages = last + 1;
    for (let i = 0; i < bufs.length; i++) this.lsns.set(file.uid, pgno + i, readLsn(bufs[i]!, PageOffset.lsnFile));
    this.stats.pagesWritten += bufs.length;
  }

  private run = Buffer.alloc(0);

  /**
   * Writes pages pgno, pgno + 1, … of one file with one call, as writePage does each (the caller
   * has made the log durable through their LSNs: I1). A checkpoint's dirty pages come in such
   * runs (a load appends pages at the end of the file): one system call instead of one per page.
   */
  writePages(file: DataFile, pgno: number, bufs: Buffer[]): void {
    if (bufs.length === 1) return this.writePage(file, pgno, bufs[0]!);
    const ps = file.pageSize;
    const size = ps * bufs.length;
    if (this.run.length < size) this.run = Buffer.allocUnsafe(size);
    for (let i = 0; i < bufs.length; i++) {
      const buf = bufs[i]!;
      assert(buf.length === ps, `page ${pgno + i} of ${file.name} is not ${ps} bytes`);
      buf.writeUInt32LE(pageChecksum(buf), PageOffset.checksum);
      buf.copy(this.run, i * ps);
    }
    const h = this.handleOf(file, true)!;
    h.write(this.run.subarray(0, size), pgno * ps);
    this.wrote(file, h, pgno, bufs);
  }

  /** After a successful write + fsync: the page is clean unless a newer version was installed meanwhile. */
  markClean(file: DataFile, pgno: number, buf: Buffer): void {
    const p = file.pages.get(pgno);
    if (p !== undefined && p.buf === buf && p.dirty) {
      p.dirty = false;
      this.dirtyCount--;
      this.evictRetryAt = 0; // an evictable page: trim() may scan again
    }
  }
}

/** A read-only view of one file at a snapshot sequence. */
export class SnapshotReader implements PageReader {
  readonly pageSize: number;
  constructor(
    private readonly pager: Pager,
    readonly file: DataFile,
    readonly seq: number,
  ) {
    this.pageSize = file.pageSize;
  }
  page(pgno: number): Buffer {
    return this.pager.read(this.file, pgno, this.seq);
  }
}

/**
 * The latest committed state of one file for point reads that copy what they return and keep no
 * page afterwards (`Pager.peek`); the caller calls `pager.settle()` when its read has returned.
 */
export class PeekReader implements PageReader {
  readonly pageSize: number;
  constructor(
    private readonly pager: Pager,
    readonly file: DataFile,
  ) {
    this.pageSize = file.pageSize;
  }
  page(pgno: number): Buffer {
    return this.pager.peek(this.file, pgno);
  }
}

/** A transaction's copy-on-write pages in one file, over the snapshot it began at. */
export class FilePages implements PageWriter {
  readonly pageSize: number;
  /** Private pages: changed copies and new pages. */
  readonly changed = new Map<number, Buffer>();
  readonly created = new Set<number>();
  /** The committed version each changed page was copied from (immutable buffers: identity tells whether it is still current). */
  readonly bases = new Map<number, Buffer>();
  /**
   * The committed version of each page read here without being changed (yet): a write's outcome
   * can depend on a page it did not change (a delete that found no key changes nothing), so
   * those pages must be current too for the transaction to install as it is (basesCurrent).
   */
  readonly seen = new Map<number, Buffer>();
  constructor(
    private readonly pager: Pager,
    readonly file: DataFile,
    readonly seq: number,
  ) {
    this.pageSize = file.pageSize;
  }

  page(pgno: number): Buffer {
    const own = this.changed.get(pgno);
    if (own !== undefined) return own;
    const base = this.pager.read(this.file, pgno, this.seq);
    this.seen.set(pgno, base);
    return base;
  }

  writable(pgno: number): Buffer {
    let buf = this.changed.get(pgno);
    if (buf === undefined) {
      const base = this.pager.read(this.file, pgno, this.seq);
      buf = this.pager.spare(this.pageSize);
      if (buf === undefined) buf = Buffer.from(base);
      else {
        base.copy(buf);
        this.pager.stats.sparesReused++;
      }
      this.changed.set(pgno, buf);
      this.bases.set(pgno, base);
    }
    return buf;
  }

  /**
   * True when every page this set changed is still, in the latest committed state, the version
   * it was copied from (and every new page was allocated at the end of the file, whose meta page
   * is then also unchanged), and so is every page it only read: replaying its writes on the
   * latest state would then read and write the same pages. Pages without a recorded base
   * (free-list reuse, freed pages) answer false.
   */
  basesCurrent(): boolean {
    for (const pgno of this.changed.keys()) {
      if (this.created.has(pgno)) continue;
      const base = this.bases.get(pgno);
      if (base === undefined || this.pager.read(this.file, pgno, Infinity) !== base) return false;
    }
    for (const [pgno, base] of this.seen) {
      if (!this.changed.has(pgno) && this.pager.read(this.file, pgno, Infinity) !== base) return false;
    }
    return true;
  }

  allocate(type: PageType): { pgno: number; buf: Buffer } {
    const meta = this.writable(0);
    let pgno = meta.readUInt32LE(MetaOffset.freeHead);
    const count = meta.readUInt32LE(MetaOffset.pageCount);
    const path = this.file.path;
    // A damaged free list or page count must fail the write here, before its commit, never hand
    // out a live page (issue 21, F12: a tree overwritten by an overflow chain, and logged).
    if (pgno !== NO_PAGE) {
      if (pgno >= count) throw new CorruptionError(path, MetaOffset.freeHead, `free list head ${pgno} is not a page of the file (page count ${count}); run db_verify`);
      const fp = this.page(pgno);
      if (fp[PageOffset.type] !== 0) {
        throw new CorruptionError(path, pgno * this.pageSize + PageOffset.type, `page ${pgno} is on the free list but is not a free page (type ${fp[PageOffset.type]}); run db_verify`);
      }
      meta.writeUInt32LE(fp.readUInt32LE(PageOffset.next), MetaOffset.freeHead);
    } else {
      pgno = count;
      if (pgno >= 0xffff_ffff) throw new CorruptionError(path, MetaOffset.pageCount, `page count ${count} is at the largest page number; run db_verify`);
      // Past the latest committed count (below it: a concurrent commit allocated it, and this
      // transaction, whose meta page is then stale, is replayed at commit); not in a file this
      // transaction creates.
      if (!this.created.has(0)) {
        const committed = this.pager.read(this.file, 0, Infinity).readUInt32LE(MetaOffset.pageCount);
        if (pgno >= committed && this.pager.holdsData(this.file, pgno)) {
          throw new CorruptionError(path, pgno * this.pageSize, `page ${pgno}, past the page count ${count} of the meta page, holds data (the page count is damaged); run db_verify`);
        }
        // Every page below the committed count is on disk or in the cache (a new page stays
        // cached until written), so a larger count is damage — e.g. a meta page that recovery
        // redid from a damaged disk copy: never extend the file there (F11).
        const onDisk = this.pager.pagesOnDisk(this.file);
        if (committed > onDisk + this.file.pages.size) {
          throw new CorruptionError(path, MetaOffset.pageCount, `page count ${committed} exceeds the file (${onDisk} pages on disk, ${this.file.pages.size} in the cache); run db_verify`);
        }
      }
      meta.writeUInt32LE(pgno + 1, MetaOffset.pageCount);
      this.created.add(pgno);
    }
    const buf = this.blank();
    initPageHeader(buf, pgno, this.file.uid, type);
    this.changed.set(pgno, buf);
    return { pgno, buf };
  }

  /** An all-zero page buffer: a spare zero-filled (no stale bytes may reach the log or the file), else a new one. */
  private blank(): Buffer {
    const buf = this.pager.spare(this.pageSize);
    if (buf === undefined) return Buffer.alloc(this.pageSize);
    this.pager.stats.sparesReused++;
    return buf.fill(0);
  }

  /**
   * Gives the private pages back to the pager's spares: the transaction was aborted or is
   * rebased, so they were never installed (no snapshot or page list has them) and its cursors
   * and readers refuse to read on (DbCursor.step, Database.range: checkTxn).
   */
  discard(): void {
    for (const buf of this.changed.values()) this.pager.recycle(buf, this.pageSize);
    this.changed.clear();
    this.bases.clear();
    this.seen.clear();
  }

  free(pgno: number): void {
    assert(pgno !== 0, 'the meta page cannot be freed');
    const meta = this.writable(0);
    const buf = this.blank();
    initPageHeader(buf, pgno, this.file.uid, 0 as PageType);
    buf.writeUInt32LE(meta.readUInt32LE(MetaOffset.freeHead), PageOffset.next);
    meta.writeUInt32LE(pgno, MetaOffset.freeHead);
    this.changed.set(pgno, buf);
  }
}

export function initPageHeader(buf: Buffer, pgno: number, uid: number, type: PageType): void {
  buf.fill(0, 0, PAGE_HEADER_SIZE);
  buf.writeUInt32LE(pgno, PageOffset.pgno);
  buf.writeUInt32LE(uid, PageOffset.fileUid);
  buf[PageOffset.type] = type;
}

/**
 * The byte ranges in which `next` differs from `prev`, skipping the checksum and LSN fields,
 * encoded for a page_delta record: repeated (u32 offset, u32 length, bytes); ranges closer than
 * 16 bytes are merged. Written into `out` from `at` (room needed: 2 × the page size + 16 bytes,
 * the worst case of alternating ranges); returns their length. The commit path writes them where
 * the page_delta record's body goes (records.ts pageDeltaBody). With `from`/`to`, only bytes
 * [from, to) are compared (the caller knows the rest is equal: src/btree/ranges.ts diffRanges);
 * a range then ends at `to` at the latest, as the whole-page diff's does when at least 16 equal
 * bytes follow `to`.
 */
export function diffInto(prev: Buffer, next: Buffer, out: Buffer, at: number, from: number = PageOffset.pgno, to: number = next.length): number {
  const n = to;
  assert(out.length >= at + 2 * (n - from) + 16 && n <= next.length, 'room for a page diff');
  let len = at;
  // Equal stretches are skipped 4 bytes at a time through Int32 views when both pages are
  // 4-byte aligned (page buffers are: each has its own ArrayBuffer). Profiles of random loads
  // showed the former native 64-byte block compares (argument checks per call) costing more than
  // this loop. The ranges found are the same as a byte-by-byte scan finds. A short span (a few
  // changed blocks) is not worth the two views.
  const aligned = n - from >= 512 && prev.length >= n && (prev.byteOffset & 3) === 0 && (next.byteOffset & 3) === 0 && (n & 3) === 0;
  const pw = aligned ? new Int32Array(prev.buffer, prev.byteOffset, n >> 2) : EMPTY_WORDS;
  const nw = aligned ? new Int32Array(next.buffer, next.byteOffset, n >> 2) : EMPTY_WORDS;
  const nwords = pw.length;
  let i: number = from > PageOffset.pgno ? from : PageOffset.pgno;
  while (i < n) {
    while (i < n && (i & 3) !== 0 && prev[i] === next[i]) i++;
    if ((i & 3) === 0) {
      let w = i >> 2;
      while (w < nwords && pw[w] === nw[w]) w++;
      if (w > i >> 2) i = w << 2;
    }
    while (i < n && prev[i] === next[i]) i++;
    if (i >= n) break;
    const start = i;
    let end = i + 1;
    let j = end;
    while (j < n) {
      if (prev[j] !== next[j]) {
        end = j + 1;
        j++;
      } else if (j - end >= 16) break;
      else j++;
    }
    out.writeUInt32LE(start, len);
    out.writeUInt32LE(end - start, len + 4);
    next.copy(out, len + 8, start, end);
    len += 8 + end - start;
    i = end;
  }
  return len - at;
}

const EMPTY_WORDS = new Int32Array(0);

/** Applies a page_delta's ranges to `page` in place; throws on a malformed delta. */
export function applyDelta(page: Buffer, ranges: Buffer): void {
  let at = 0;
  while (at < ranges.length) {
    if (at + 8 > ranges.length) throw new Error('page delta is truncated');
    const off = ranges.readUInt32LE(at);
    const len = ranges.readUInt32LE(at + 4);
    if (at + 8 + len > ranges.length || off + len > page.length || off < PageOffset.pgno) throw new Error('page delta range is out of bounds');
    ranges.copy(page, off, at + 8, at + 8 + len);
    at += 8 + len;
  }
}
