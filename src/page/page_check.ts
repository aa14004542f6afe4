// Checks of a page read from disk (checksum, own page number, own file: I6), the page header a
// new page starts with, and where a corruption error found inside a page is in its file.

import { CorruptionError } from '../util/errors.js';
import { zlib } from '../util/node.js';
import { PAGE_HEADER_SIZE, PageOffset, type PageType } from './format.js';
import type { DataFile } from './datafile.js';

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
    // PLANT(page-ignore-checksum): if (!isZeroPage(buf)) return undefined;
    return isZeroPage(buf) ? 'page was never written (all zeros)' : 'page checksum mismatch';
  }
  const own = buf.readUInt32LE(PageOffset.pgno);
  if (own !== pgno) return `page ${own} found at the place of page ${pgno} (misdirected write)`;
  const fileUid = buf.readUInt32LE(PageOffset.fileUid);
  if (fileUid !== uid) return `page belongs to another file (file id ${fileUid}, expected ${uid})`;
  return undefined;
}

export function initPageHeader(buf: Buffer, pgno: number, uid: number, type: PageType): void {
  buf.fill(0, 0, PAGE_HEADER_SIZE);
  buf.writeUInt32LE(pgno, PageOffset.pgno);
  buf.writeUInt32LE(uid, PageOffset.fileUid);
  buf[PageOffset.type] = type;
}

/**
 * The B-tree knows pages, not files: its structure errors name `page N` and an offset within the
 * page. Callers that know the data file turn them into the file's path and byte offset (I6).
 */
export function locateCorruption(e: unknown, file: DataFile): unknown {
  if (!(e instanceof CorruptionError) || e.pgno === undefined) return e;
  const pgno = e.pgno;
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

/**
 * The check of a page's content that the layer above registers (the B-tree's page structure:
 * btree/pagecheck.ts). Pager.load runs it on every page read from disk after checkPage, and never
 * on a cache hit.
 */
let contentCheck: ((buf: Buffer, pgno: number) => void) | undefined;

/** Registers the content check (once, by btree/pagecheck.ts). */
export function setPageContentCheck(check: (buf: Buffer, pgno: number) => void): void {
  contentCheck = check;
}

/** Runs the registered content check on a page of `file` read from disk; its CorruptionError names the file. */
export function checkContent(file: DataFile, buf: Buffer, pgno: number): void {
  if (contentCheck !== undefined) inFile(file, () => contentCheck!(buf, pgno));
}
