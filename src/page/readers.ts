// The pager's page readers and writers for the B-tree: a file at a snapshot, the latest state for
// point reads, and a transaction's copy-on-write pages with its free-list allocate and free.

import { assert } from '../util/assert.js';
import { CorruptionError } from '../util/errors.js';
import { NO_PAGE, PageOffset, type PageType } from './format.js';
import { MetaOffset } from './meta.js';
import type { DataFile } from './datafile.js';
import { initPageHeader } from './page_check.js';
import type { PageReader, PageWriter, Pager } from './pager.js';

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
