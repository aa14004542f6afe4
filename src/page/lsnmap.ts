// The page LSN map (docs/DESIGN.md §Stale pages, docs/FORMAT.md §Page LSN map): for every page
// of every data file, the LSN the page on disk must carry. A page read from disk with the right
// checksum and identity but another LSN is a stale (older, or newer) copy: a lost or misdirected
// write, or a data file put back from another time (I6). Checksums cannot see that; this can.
//
// Kept in memory by the pager and rewritten as `__cairn.pages` after every write of data files
// (each checkpoint, the end of every recovery): data files change only then, so the file always
// matches them. Recovery starts from it and sets every page a replayed record touches to that
// record's LSN: a page no record touched still carries what the map says.
//
// LSN 0 means "unknown" (a copy made without the map): such a page is not checked.

import * as path from 'node:path';
import type { Vfs } from '../io/vfs.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CorruptionError } from '../util/errors.js';
import { type Lsn, makeLsn, writeLsn } from '../util/lsn.js';
import { zlib } from '../util/node.js';

export const PAGE_MAP_FILE = '__cairn.pages';
const MAGIC = Buffer.from('cairnpm1', 'latin1');
const HEADER = 40;

export class PageLsnMap {
  private readonly files = new Map<number, Float64Array>();

  /** The LSN page `pgno` of file `uid` must carry on disk; 0 when unknown. */
  get(uid: number, pgno: number): Lsn {
    const a = this.files.get(uid);
    return a !== undefined && pgno < a.length ? a[pgno]! : 0;
  }

  set(uid: number, pgno: number, lsn: Lsn): void {
    let a = this.files.get(uid);
    if (a === undefined || pgno >= a.length) {
      const grown = new Float64Array(Math.max(16, pgno + 1, (a?.length ?? 0) * 2));
      if (a !== undefined) grown.set(a);
      this.files.set(uid, grown);
      a = grown;
    }
    a[pgno] = lsn;
  }

  drop(uid: number): void {
    this.files.delete(uid);
  }

  /** Keeps only the files in `uids` (the rest were removed). */
  retain(uids: Set<number>): void {
    for (const uid of [...this.files.keys()]) if (!uids.has(uid)) this.files.delete(uid);
  }

  /** Encodes the map (FORMAT.md §Page LSN map); `tag` ties it to the control file. */
  encode(envId: Buffer, tag: Lsn): Buffer {
    const lists: Array<[number, Float64Array, number]> = [];
    let size = HEADER;
    for (const [uid, a] of this.files) {
      let n = a.length;
      while (n > 0 && a[n - 1] === 0) n--;
      lists.push([uid, a, n]);
      size += 8 + 8 * n;
    }
    const buf = Buffer.alloc(size);
    MAGIC.copy(buf, 0);
    buf.writeUInt32LE(lists.length, 12);
    envId.copy(buf, 16, 0, 16);
    writeLsn(buf, 32, tag);
    let at = HEADER;
    for (const [uid, a, n] of lists) {
      buf.writeUInt32LE(uid, at);
      buf.writeUInt32LE(n, at + 4);
      at += 8;
      for (let i = 0; i < n; i++) {
        writeLsn(buf, at, a[i]!);
        at += 8;
      }
    }
    buf.writeUInt32LE(zlib.crc32(buf.subarray(12)), 8);
    return buf;
  }

  /** Decodes a map written by encode; throws CorruptionError naming `file` when it is damaged. */
  static decode(buf: Buffer, file: string): { map: PageLsnMap; envId: Buffer; tag: Lsn } {
    const bad = (offset: number, what: string) => new CorruptionError(file, offset, `${what}; run db_recover -c (catastrophic recovery) to rebuild the page LSN map from the log`);
    if (buf.length < HEADER || !buf.subarray(0, 8).equals(MAGIC)) throw bad(0, 'not a page LSN map (bad magic or too short)');
    if (buf.readUInt32LE(8) !== zlib.crc32(buf.subarray(12))) throw bad(8, 'page LSN map checksum mismatch');
    const map = new PageLsnMap();
    const count = buf.readUInt32LE(12);
    let at = HEADER;
    for (let f = 0; f < count; f++) {
      if (at + 8 > buf.length) throw bad(at, 'page LSN map is truncated');
      const uid = buf.readUInt32LE(at);
      const n = buf.readUInt32LE(at + 4);
      at += 8;
      if (at + 8 * n > buf.length) throw bad(at, 'page LSN map is truncated');
      const a = new Float64Array(Math.max(16, n));
      for (let i = 0; i < n; i++, at += 8) a[i] = makeLsn(buf.readUInt32LE(at), buf.readUInt32LE(at + 4));
      map.files.set(uid, a);
    }
    if (at !== buf.length) throw bad(at, 'page LSN map has trailing bytes');
    return { map, envId: Buffer.from(buf.subarray(16, 32)), tag: makeLsn(buf.readUInt32LE(32), buf.readUInt32LE(36)) };
  }
}

export function pageMapPath(home: string): string {
  return path.join(home, PAGE_MAP_FILE);
}

/** Reads `__cairn.pages` in `home`; undefined when there is none. */
/** The largest page LSN map read: 1 GiB holds 128 Mi pages (512 GiB of data in 4 KiB pages). */
export const MAX_PAGE_MAP_BYTES = 1024 * 1024 * 1024;

export function readPageMap(vfs: Vfs, home: string): { map: PageLsnMap; envId: Buffer; tag: Lsn } | undefined {
  const file = pageMapPath(home);
  const st = vfs.stat(file);
  if (st === undefined) return undefined;
  // Read whole only when it could be a map: a huge (or sparse) file is refused unread.
  if (st.size > MAX_PAGE_MAP_BYTES) throw new CorruptionError(file, 0, `page LSN map of ${st.size} bytes, more than any map (${MAX_PAGE_MAP_BYTES}: 8 bytes per page); run db_recover -c (catastrophic recovery) to rebuild it`);
  return PageLsnMap.decode(vfs.readFile(file), file);
}

/** Replaces `__cairn.pages` atomically: temp file, fsync, rename, fsync of the directory. */
export function writePageMap(vfs: Vfs, home: string, map: PageLsnMap, envId: Buffer, tag: Lsn): void {
  writeFileAtomic(vfs, pageMapPath(home), map.encode(envId, tag));
}
