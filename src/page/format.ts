// Page layout shared by every page of a data file (docs/FORMAT.md §Pages).
//
// offset size field
//      0    4 checksum   crc32 of bytes 4..pageSize (zlib.crc32)
//      4    4 lsnFile    LSN of the last log record applied to this page (file number)
//      8    4 lsnOffset  (byte offset in that log file)
//     12    4 pgno       this page's own number (I6: a page written at the wrong offset is caught)
//     16    4 fileUid    the data file's random id (I6: a page from another file is caught)
//     20    1 type       PageType
//     21    1 flags      type-specific
//     22    2 count      number of entries (branch/leaf), unused otherwise
//     24    4 next       right sibling (leaf), next page of a chain (overflow, free list)
//     28    4 prev       left sibling (leaf); overflow: bytes of data in this page
//     32      body
// All integers little-endian. The pager owns checksum, LSN, pgno and fileUid; the B-tree owns
// type, flags, count, next, prev and the body.

export const PAGE_HEADER_SIZE = 32;
export const DEFAULT_PAGE_SIZE = 4096;
export const MIN_PAGE_SIZE = 512;
export const MAX_PAGE_SIZE = 65536;

export const PageOffset = {
  checksum: 0,
  lsnFile: 4,
  lsnOffset: 8,
  pgno: 12,
  fileUid: 16,
  type: 20,
  flags: 21,
  count: 22,
  next: 24,
  prev: 28,
} as const;

export const enum PageType {
  Free = 0,
  Meta = 1,
  Branch = 2,
  Leaf = 3,
  Overflow = 4,
}

/** 0 in a page link field (next, prev, child) means "none": page 0 is always the meta page. */
export const NO_PAGE = 0;
