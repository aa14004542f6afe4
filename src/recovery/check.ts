// The end of recovery (DESIGN.md §Recovery): the data files written and fsynced, and — after a
// catastrophic recovery or before a recovery to a point in time — every page of every data file
// checked: checksum, identity, no LSN beyond the end of the log (I7), and the LSN the page LSN
// map expects. Also the one reader of a candidate data file's meta page that recovery trusts.

import type { Vfs } from '../io/vfs.js';
import { MetaOffset, readMeta } from '../page/meta.js';
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE, PageOffset } from '../page/format.js';
import { DataFile, type Pager, checkPage, isZeroPage } from '../page/pager.js';
import { CorruptionError } from '../util/errors.js';
import { type Lsn, formatLsn, readLsn } from '../util/lsn.js';

/**
 * The final check reads data files in pieces of this many bytes: small enough to stay in the
 * core's cache between the read's copy and the checksums (read + crc32 of the 1M database's
 * 125 MB data file: 70–90 ms in 64 KiB reads, 110–150 ms in 1 MiB reads).
 */
const SCAN_BYTES = 64 * 1024;

/**
 * Pages of one data file that redo read from disk and found sound, with the LSN each had, and
 * their highest LSN. One number per page (-1: not found sound) rather than a Map entry: the Map
 * of the 1M-entry database's 30,000 pages cost 50–100 ms of garbage collection per recovery.
 */
export class Verified {
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

/** What checkAllPages needs of the recovery context (redo.ts). */
interface CheckContext {
  vfs: Vfs;
  envId: Buffer;
  /** Every candidate data file in the data directories: name → path. */
  listDataFiles(): Map<string, string>;
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
    throw new CorruptionError(p, MetaOffset.envId, `data file ${p} belongs to another environment (id ${meta.envId.toString('hex')}, this one is ${envId.toString('hex')}); remove it or copy the right one`);
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
export function checkAllPages(pager: Pager, ctx: CheckContext, end: Lsn, hint: string, verified?: Map<DataFile, Verified>): void {
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
            throw new CorruptionError(file.path, base + off, `data file ${file.path} page ${pgno} has LSN ${formatLsn(lsn)}, past the end of the log at ${formatLsn(end)}: ${hint}`);
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
