// The meta page (page 0) of a data file (docs/FORMAT.md §Data files).
//
// After the common 32-byte page header (type Meta):
// offset size field
//     32    8 magic       "CAIRNDB\0"
//     40    4 version     1
//     44    4 pageSize
//     48   16 envId       the environment that made the file (I7: a foreign file is refused)
//     64    4 pageCount   pages allocated so far (the next new page number)
//     68    4 freeHead    first page of the free list (0: empty); free pages chain through `next`
//     72    4 catalogRoot root page of the catalog tree (database name → descriptor)
//     76    8 needsLog    LSN (file, offset): the redo point of the last checkpoint that logged
//                         it here (0: none yet); a copy of the file needs the log from there

import { CorruptionError } from '../util/errors.js';
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE } from './format.js';
import { type Lsn, readLsn } from '../util/lsn.js';

export const DATA_MAGIC = Buffer.from('CAIRNDB\0', 'latin1');
export const DATA_VERSION = 1;

export const MetaOffset = {
  magic: 32,
  version: 40,
  pageSize: 44,
  envId: 48,
  pageCount: 64,
  freeHead: 68,
  catalogRoot: 72,
  needsLog: 76,
} as const;

export interface MetaInfo {
  pageSize: number;
  envId: Buffer;
  fileUid: number;
  pageCount: number;
  freeHead: number;
  catalogRoot: number;
  /** The log this file's pages need (0: not recorded); see docs/FORMAT.md §Meta page. */
  needsLog: Lsn;
}

export function initMeta(buf: Buffer, pageSize: number, envId: Buffer): void {
  DATA_MAGIC.copy(buf, MetaOffset.magic);
  buf.writeUInt32LE(DATA_VERSION, MetaOffset.version);
  buf.writeUInt32LE(pageSize, MetaOffset.pageSize);
  envId.copy(buf, MetaOffset.envId, 0, 16);
}

/** Reads a meta page's fields; throws CorruptionError naming `file` if it is not a cairn meta page. */
export function readMeta(buf: Buffer, file: string): MetaInfo {
  if (buf.length < 84 || !buf.subarray(MetaOffset.magic, MetaOffset.magic + 8).equals(DATA_MAGIC)) {
    throw new CorruptionError(file, 0, 'not a cairn data file (bad magic in the meta page)');
  }
  const version = buf.readUInt32LE(MetaOffset.version);
  if (version !== DATA_VERSION) throw new CorruptionError(file, MetaOffset.version, `unsupported data file version ${version}`);
  // Every page of the file is read at multiples of this: an impossible one is refused before it sizes a buffer.
  const pageSize = buf.readUInt32LE(MetaOffset.pageSize);
  if (!(pageSize >= MIN_PAGE_SIZE && pageSize <= MAX_PAGE_SIZE && (pageSize & (pageSize - 1)) === 0)) {
    throw new CorruptionError(file, MetaOffset.pageSize, `meta page gives an impossible page size ${pageSize}`);
  }
  return {
    pageSize,
    envId: Buffer.from(buf.subarray(MetaOffset.envId, MetaOffset.envId + 16)),
    fileUid: buf.readUInt32LE(16),
    pageCount: buf.readUInt32LE(MetaOffset.pageCount),
    freeHead: buf.readUInt32LE(MetaOffset.freeHead),
    catalogRoot: buf.readUInt32LE(MetaOffset.catalogRoot),
    needsLog: readLsn(buf, MetaOffset.needsLog),
  };
}
