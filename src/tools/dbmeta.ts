// Berkeley DB metadata kept in a database's catalog descriptor, so that a database loaded from
// a dump dumps back the same way (issue 5, docs/TOOLS.md "How Berkeley DB databases are
// stored").
//
// * Every access method is stored as a cairn B-tree. `descriptor.type` remembers btree, hash,
//   recno or queue; a database created through the API has no type and dumps as btree.
// * Duplicates are the database's own mode: DB_DUP = 'unsorted' (insertion order), DB_DUPSORT =
//   'sorted'. They are not repeated in the descriptor.
// * recno and queue records are stored under their record number as a 4-byte big-endian key,
//   so key order is record number order.
// * `descriptor.dumpHeader` keeps the header keywords of the dump that matter for its type, as
//   db_load -c would write them (`re_len=8`, `re_pad=0x2e`, `h_nelem=5`, …), plus `db_pagesize`
//   when the dump's page size differs from the data file's.

import { applyOverrides, keyToRecno, type DumpFormat, type DumpHeader, type DumpType } from '../dump/format.js';
import type { Descriptor } from '../env/database.js';
import type { DupMode } from '../btree/btree.js';
import { CairnError } from '../util/errors.js';

export const RECNO_KEY_SIZE = 4;

/** The stored key of record number `recno`: 4 bytes, big-endian. */
export function recnoKey(recno: number): Buffer {
  const b = Buffer.allocUnsafe(RECNO_KEY_SIZE);
  b.writeUInt32BE(recno, 0);
  return b;
}

/** The record number of a stored recno/queue key; throws for a key that is not 4 bytes. */
export function recnoOfKey(key: Buffer, where: string): number {
  if (key.length !== RECNO_KEY_SIZE) {
    throw new CairnError('CORRUPT', `${where}: a record-number database holds a key of ${key.length} bytes (expected ${RECNO_KEY_SIZE}); run db_verify`);
  }
  const n = key.readUInt32BE(0);
  if (n === 0) throw new CairnError('CORRUPT', `${where}: a record-number database holds record number 0; run db_verify`);
  return n;
}

export function isRecnoType(type: DumpType): boolean {
  return type === 'recno' || type === 'queue';
}

export function dupModeOf(header: DumpHeader): DupMode {
  if (header.dupsort === true) return 'sorted';
  if (header.duplicates === true) return 'unsorted';
  return 'none';
}

/**
 * The header keywords to keep for a database of this type: what db_dump prints for it, as
 * name=value pairs that applyOverrides accepts back.
 */
export function headerPairs(h: DumpHeader, filePageSize: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  switch (h.type) {
    case 'btree':
      if (h.recnum === true) out.push(['recnum', '1']);
      if (h.bMinkey !== undefined && h.bMinkey !== 0 && h.bMinkey !== 2) out.push(['bt_minkey', String(h.bMinkey)]);
      break;
    case 'hash':
      if (h.hFfactor !== undefined && h.hFfactor !== 0) out.push(['h_ffactor', String(h.hFfactor)]);
      if (h.hNelem !== undefined && h.hNelem !== 0) out.push(['h_nelem', String(h.hNelem)]);
      break;
    case 'recno':
      if (h.renumber === true) out.push(['renumber', '1']);
      if (h.reLen !== undefined) {
        out.push(['re_len', String(h.reLen)]);
        if (h.rePad !== undefined) out.push(['re_pad', `0x${h.rePad.toString(16)}`]);
      }
      break;
    case 'queue':
      if (h.reLen !== undefined) out.push(['re_len', String(h.reLen)]);
      if (h.rePad !== undefined) out.push(['re_pad', `0x${h.rePad.toString(16)}`]);
      if (h.extentsize !== undefined && h.extentsize !== 0) out.push(['extentsize', String(h.extentsize)]);
      break;
  }
  if (h.chksum === true) out.push(['chksum', '1']);
  for (const [name, value] of h.extra) if (name === 'compressed' && value === '1') out.push([name, value]);
  if (h.dbPagesize !== undefined && h.dbPagesize !== filePageSize) out.push(['db_pagesize', String(h.dbPagesize)]);
  return out;
}

/** The descriptor fields db_load stores for a section's (effective) header. */
export function descriptorFor(h: DumpHeader, filePageSize: number): Partial<Descriptor> {
  const pairs = headerPairs(h, filePageSize);
  return pairs.length > 0 ? { type: h.type, dumpHeader: pairs } : { type: h.type };
}

/** The record length and pad a recno/queue database uses (fixed-length records), if any. */
export function fixedLength(h: DumpHeader): { reLen: number; pad: number } | undefined {
  if (!isRecnoType(h.type) || h.reLen === undefined) return undefined;
  return { reLen: h.reLen, pad: h.rePad ?? 0x20 };
}

export interface DumpTarget {
  format: DumpFormat;
  /** db_dump -k */
  keys: boolean;
  /** The database= line (subdatabase blocks of a full dump). */
  database?: string;
}

/** The header db_dump prints for a database, from its descriptor and its file's page size. */
export function headerFor(desc: Descriptor, filePageSize: number, target: DumpTarget, where: string): DumpHeader {
  const type: DumpType = desc.type ?? 'btree';
  let h: DumpHeader = { version: 3, format: target.format, type, extra: [] };
  if (desc.dup !== 'none') h.duplicates = true;
  if (desc.dup === 'sorted') h.dupsort = true;
  if (desc.dumpHeader !== undefined && desc.dumpHeader.length > 0) {
    try {
      h = applyOverrides(h, desc.dumpHeader.map(([k, v]) => `${k}=${v}`));
    } catch (e) {
      throw new CairnError('CORRUPT', `${where}: the Berkeley DB header kept for this database is not valid (${(e as Error).message}); run db_verify`);
    }
  }
  if (h.dbPagesize === undefined) h.dbPagesize = filePageSize;
  if (target.database !== undefined) h.database = target.database;
  if (target.keys) h.keys = true;
  return h;
}

export { keyToRecno };
