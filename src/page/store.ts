// What the B-tree needs from the layer below: pages by number, copy-on-write for changes,
// allocation and freeing. The pager implements it over snapshots and transactions; tests
// implement it in memory (see testing/memstore.ts).

import type { PageType } from './format.js';
import type { Dirty } from './ranges.js';

export interface PageReader {
  readonly pageSize: number;
  /**
   * The page's bytes, read-only: callers must never mutate the returned buffer. Throws a
   * CorruptionError when the page fails its checksum or identity check.
   */
  page(pgno: number): Buffer;
}

export interface PageWriter extends PageReader {
  /**
   * A private, mutable copy of the page for the current transaction. Repeated calls return
   * the same buffer, and page(pgno) returns it too from then on.
   */
  writable(pgno: number): Buffer;
  /** A fresh page: header initialised (pgno, fileUid, given type, count/next/prev 0), body zeroed. Mutable. */
  allocate(type: PageType): { pgno: number; buf: Buffer };
  /** Returns a page to the free list. The page must not be used afterwards. */
  free(pgno: number): void;
  /**
   * The changed ranges of this writer's private pages, by page number (ranges.ts), when the
   * writer keeps them (its commit then encodes deltas from them); the B-tree fills it.
   */
  readonly ranges?: Map<number, Dirty>;
}
