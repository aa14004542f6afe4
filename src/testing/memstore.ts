// An in-memory PageWriter for tests and benchmarks: an array of page number → Buffer with
// copy-on-write against snapshots, an allocation counter and a free list. Page headers are
// initialised as the pager does (pgno at 12, type at 20, the rest zero). Page 0 is reserved
// (it is the meta page in a real file), so allocation starts at 1. Reading a page that is not
// allocated throws CorruptionError, as the pager does for a page number beyond the file.

import { PageType } from '../page/format.js';
import type { PageReader, PageWriter } from '../page/store.js';
import { CorruptionError } from '../util/errors.js';
import type { Dirty } from '../page/ranges.js';

export class MemStore implements PageWriter {
  readonly pageSize: number;
  private pages: (Buffer | undefined)[] = [];
  private live = 0;
  /** Pages this writer owns outright (allocated or copied since the last snapshot). */
  private owned = new Set<number>();
  private freeList: number[] = [];
  private nextPgno = 1;
  /** Changed ranges of the pages written since the last snapshot (ranges.ts). */
  readonly ranges = new Map<number, Dirty>();
  /** Counters for tests and benchmarks. */
  readonly stats = { allocs: 0, frees: 0, copies: 0 };

  constructor(pageSize = 4096) {
    if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > 65536) throw new RangeError(`bad page size ${pageSize}`);
    this.pageSize = pageSize;
  }

  page(pgno: number): Buffer {
    const b = this.pages[pgno];
    if (b === undefined) throw new CorruptionError(`page ${pgno}`, 0, 'memstore: page is not allocated');
    return b;
  }

  writable(pgno: number): Buffer {
    const b = this.pages[pgno];
    if (b === undefined) throw new Error(`memstore: writable(${pgno}) of a page that is not allocated`);
    if (this.owned.has(pgno)) return b;
    const c = Buffer.allocUnsafe(this.pageSize);
    b.copy(c);
    this.pages[pgno] = c;
    this.owned.add(pgno);
    this.stats.copies++;
    return c;
  }

  allocate(type: PageType): { pgno: number; buf: Buffer } {
    const pgno = this.freeList.length > 0 ? this.freeList.pop()! : this.nextPgno++;
    const buf = Buffer.alloc(this.pageSize);
    buf.writeUInt32LE(pgno, 12);
    buf[20] = type;
    this.pages[pgno] = buf;
    this.live++;
    this.owned.add(pgno);
    this.stats.allocs++;
    return { pgno, buf };
  }

  free(pgno: number): void {
    if (this.pages[pgno] === undefined) throw new Error(`memstore: free(${pgno}) of a page that is not allocated`);
    this.pages[pgno] = undefined;
    this.live--;
    this.owned.delete(pgno);
    this.freeList.push(pgno);
    this.stats.frees++;
  }

  /**
   * A read-only view of the current state. Later changes through this writer copy pages first,
   * so the snapshot never changes (as the pager guarantees for read transactions).
   */
  snapshot(): PageReader {
    const pages = this.pages.slice();
    this.owned.clear();
    this.ranges.clear();
    const pageSize = this.pageSize;
    return {
      pageSize,
      page(pgno: number): Buffer {
        const b = pages[pgno];
        if (b === undefined) throw new CorruptionError(`page ${pgno}`, 0, 'memstore snapshot: page is not allocated');
        return b;
      },
    };
  }

  /** Pages currently allocated (not free). */
  livePages(): number {
    return this.live;
  }
  /** Page numbers handed out so far (the file's high-water mark, page 0 excluded). */
  allocatedPages(): number {
    return this.nextPgno - 1;
  }
  /** Pages on the free list. */
  freePages(): number {
    return this.freeList.length;
  }
  /** The free list (copy). */
  freeListPages(): number[] {
    return this.freeList.slice();
  }
}
