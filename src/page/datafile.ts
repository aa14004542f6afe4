// A data file as the pager knows it (its identity, handle and cached pages) and a cached page.

import type { FileHandle } from '../io/vfs.js';

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
export function keptImageEpoch(file: DataFile, pgno: number): number {
  const a = file.imageEpochs;
  return pgno < a.length ? a[pgno]! - 1 : -1;
}
