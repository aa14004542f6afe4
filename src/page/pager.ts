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
//
// The rest of the page layer, re-exported here: datafile.ts (DataFile, CachedPage), page_check.ts
// (page checks, locating corruption), arena.ts (spare buffers), readers.ts (SnapshotReader,
// PeekReader, FilePages) and delta.ts (the page_delta codec).

import * as path from 'node:path';
import type { FileHandle, Vfs } from '../io/vfs.js';
import type { PageReader, PageWriter } from './store.js';
import { assert } from '../util/assert.js';
import { CairnError, CorruptionError } from '../util/errors.js';
import { type Lsn, formatLsn, readLsn } from '../util/lsn.js';
import { PageOffset } from './format.js';
import { DATA_MAGIC, MetaOffset } from './meta.js';
import { PageLsnMap } from './lsnmap.js';
import { CachedPage, type DataFile, keptImageEpoch } from './datafile.js';
import { checkContent, checkPage, isZeroPage, pageChecksum } from './page_check.js';
import { Arena } from './arena.js';

export { CachedPage, DataFile, type PageVersion } from './datafile.js';
export { checkPage, inFile, initPageHeader, isZeroPage, locateCorruption, pageChecksum, setPageContentCheck } from './page_check.js';
export { POISON, arenaCheck } from './arena.js';
export { FilePages, PeekReader, SnapshotReader } from './readers.js';
export { applyDelta, diffInto } from './delta.js';
export type { PageReader, PageWriter };

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

  /** Spare page buffers (arena.ts). */
  private readonly arena: Arena;

  constructor(vfs: Vfs, opts: PagerOptions) {
    this.vfs = vfs;
    this.opts = opts;
    this.arena = new Arena(opts, this.snapshots);
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

  /**
   * The log's durable LSN, once the environment's log writer is open (not during recovery, whose
   * page writes replay a durable log): every page written must carry an LSN at or below it (I1).
   */
  durableLsn: (() => Lsn) | undefined;

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
          if (!this.arena.held.has(h[i]!.buf)) this.arena.recycle(h[i]!.buf, p.buf.length);
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

  // ---- the page arena (arena.ts) -----------------------------------------------------------

  /** Keeps the buffers of a page list from being recycled while it is in use (Arena.hold); call the returned function once, when it is not. */
  hold(pages: ReadonlyArray<{ buf: Buffer }>): () => void {
    return this.arena.hold(pages);
  }

  /** A spare buffer of `pageSize` bytes (contents stale: the caller overwrites all of it), or undefined. */
  spare(pageSize: number): Buffer | undefined {
    return this.arena.spare(pageSize);
  }

  /** Gives back a page buffer that nobody references any more (the caller has proved it): a spare, or poison (`arenaCheck`). */
  recycle(buf: Buffer, pageSize: number): void {
    this.arena.recycle(buf, pageSize);
  }

  /** Ends a `peek` caller's operation: frames evicted during it may now be reused. */
  settle(): void {
    this.arena.settle();
  }

  /** Reads and checks a page and caches it; `frame`: loaded for `peek`, its buffer reusable (set before the eviction below, which may drop this very page). */
  private load(file: DataFile, pgno: number, frame: boolean): CachedPage {
    const into = this.arena.spare(file.pageSize);
    if (into !== undefined) this.stats.framesReused++;
    const buf = this.readFromDisk(file, pgno, into);
    const why = checkPage(buf, pgno, file.uid) ?? this.checkLsn(file, pgno, buf);
    if (why !== undefined) throw new CorruptionError(file.path, pgno * file.pageSize, why);
    if (pgno === 0) this.checkMetaCounts(file, buf);
    else checkContent(file, buf, pgno);
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
    if (want === 0) return undefined; // PLANT(page-ignore-stale): return undefined;
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
          this.arena.release(p, f.pageSize, between);
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
      if (old !== buf && this.arena.unshared(old)) this.arena.recycle(old, file.pageSize);
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
    // PLANT(drop-page-image): if (this.epoch > 0) return false;
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
    const durable = this.durableLsn?.();
    const last = pgno + bufs.length - 1;
    if (file.sizedHandle === h && last >= file.diskPages) file.diskPages = last + 1;
    for (let i = 0; i < bufs.length; i++) {
      const lsn = readLsn(bufs[i]!, PageOffset.lsnFile);
      // I1 where it is enforced: no page reaches a data file ahead of the durable log.
      assert(durable === undefined || lsn <= durable, `I1: page ${pgno + i} of ${file.name} written with LSN ${lsn} past the durable log ${durable}`);
      this.lsns.set(file.uid, pgno + i, lsn);
    }
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
