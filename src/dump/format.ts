// The Berkeley DB 5.3 db_dump / db_load portable text format: public surface of src/dump/.
// See src/dump/FORMAT.md for what is supported and every deviation from BDB.
//
// Writing a dump, line by line (the CLI writes each string as it comes, nothing is built up):
//
//   out.write(formatHeader(header));
//   for (const [key, value] of cursor) out.write(formatRecord(key, value, header.format));
//   out.write(formatFooter());
//
// recno/queue without keys=1 print one item per record: formatItem(value, format).

import { encodeItem, keyToRecno, recnoToKey, type DumpFormat } from './codec.js';
import { formatHeader, hasKeyLines, isRecordNumbered, type DumpHeader } from './header.js';

export {
  decodeBytevalue,
  decodeEscaped,
  DumpFormatError,
  encodeBytevalue,
  encodeItem,
  encodePrint,
  isValidRecno,
  keyToRecno,
  RECNO_MAX,
  recnoKeyProblem,
  recnoToKey,
  type DumpFormat,
} from './codec.js';
export {
  applyOverrides,
  checkOverrides,
  CONFIG_KEYWORDS,
  DUMP_TYPES,
  DumpOverrideError,
  effectiveHeader,
  EXTRA_KEYWORDS,
  formatHeader,
  hasKeyLines,
  isRecordNumbered,
  OVERRIDE_ONLY_KEYWORDS,
  type DumpHeader,
  type DumpType,
  type LoadOptions,
} from './header.js';
export {
  DumpParser,
  parseDump,
  parseDumpText,
  type DumpEvent,
  type DumpParserOptions,
  type DumpRecord,
  type DumpSection,
} from './parser.js';

/** The line that ends every section. */
export const DATA_END = 'DATA=END\n';

/** One data line: a space, the encoded item, a newline. */
export function formatItem(item: Uint8Array, format: DumpFormat): string {
  return ` ${encodeItem(item, format)}\n`;
}

/** A key line and a data line (btree/hash, and recno/queue with keys=1). */
export function formatRecord(key: Uint8Array, value: Uint8Array, format: DumpFormat): string {
  return ` ${encodeItem(key, format)}\n ${encodeItem(value, format)}\n`;
}

/**
 * A recno/queue record: with `keys` (db_dump -k) the record number's decimal digits as the key
 * line, then the data line; without, the data line only.
 */
export function formatRecnoRecord(recno: number, value: Uint8Array, format: DumpFormat, keys: boolean): string {
  const key = recnoToKey(recno); // validates recno even when it is not printed
  return keys ? formatRecord(key, value, format) : formatItem(value, format);
}

export function formatFooter(): string {
  return DATA_END;
}

/**
 * A whole section as a sequence of strings (header, one per record, footer), for writing out
 * lazily. For recno/queue, `key` must be the dump key form (recnoToKey) when header.keys is
 * set, and is ignored otherwise (records are then numbered by position on load).
 */
export function* formatSection(
  header: DumpHeader,
  records: Iterable<readonly [Uint8Array, Uint8Array]>,
): Generator<string, void, undefined> {
  yield formatHeader(header);
  const keyed = hasKeyLines(header);
  const recno = isRecordNumbered(header.type);
  for (const [key, value] of records) {
    if (!keyed) {
      yield formatItem(value, header.format);
      continue;
    }
    if (recno) keyToRecno(key); // throws for a key that is not a record number
    yield formatRecord(key, value, header.format);
  }
  yield DATA_END;
}
