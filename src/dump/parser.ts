// Streaming reader for db_dump output and db_load -T text (src/dump/FORMAT.md §4).
//
//   input   := section+
//   section := 'VERSION=3\n' (name '=' value '\n')* 'HEADER=END\n' data* 'DATA=END\n'
//   data    := ' ' item '\n'
//
// DumpParser is a push parser: write() chunks (or writeLine() lines), then end(); each call
// returns the events it completed. Nothing is buffered beyond the current line, so a dump of
// any size streams in constant memory. Every problem is a DumpFormatError naming its line;
// after one, the parser stays failed. Records before the error have already been returned:
// keeping or discarding them (atomic load) is the loader's decision.

import { CairnError } from '../util/errors.js';
import {
  crlfHint,
  decodeBytevalue,
  decodeEscaped,
  DumpFormatError,
  recnoKeyProblem,
  recnoToKey,
  RECNO_MAX,
  showBytes,
  type DumpFormat,
} from './codec.js';
import {
  checkOverrides,
  DUMP_TYPES,
  DumpOverrideError,
  effectiveHeader,
  hasKeyLines,
  isRecordNumbered,
  parseConfig,
  type DumpHeader,
  type DumpType,
  type HeaderChange,
  type LoadOptions,
} from './header.js';

export interface DumpRecord {
  /** The key; for recno/queue the record number in dump key form (ASCII decimal, see recnoToKey). */
  key: Buffer;
  value: Buffer;
  /** Record number, for recno/queue sections (implicit 1, 2, 3 … without keys=1). */
  recno?: number;
  /** Input line of the record's first line (its key line when there is one). */
  line: number;
  /** 1-based position of the record in its section. */
  index: number;
}

export type DumpEvent =
  /** A section starts. `header` is the effective one (after -c/-t); `line` is its VERSION line (0 for -T). */
  | { kind: 'header'; header: DumpHeader; line: number }
  | { kind: 'record'; record: DumpRecord }
  /** The section ended: its DATA=END line (-T: the last line), and how many records it had. */
  | { kind: 'end'; line: number; records: number };

export interface DumpParserOptions extends LoadOptions {
  /**
   * db_load -T: the input is plain text with no header, one item per line, `\\` and `\hh`
   * escapes, keys and data alternating for btree/hash. Needs `type`.
   */
  text?: boolean;
  /**
   * The longest key and value the reader of the records accepts, in bytes (db_load: cairn's
   * limits). A data line whose item is certainly longer (more than 2 characters a byte in
   * bytevalue, 3 in print and -T) is refused as soon as that much of it has been read, never held
   * whole; a recno/queue re_len above `value` is refused at its header line (each record is
   * padded to re_len). Exact lengths below that are the caller's to check.
   */
  limits?: { key?: number; value?: number };
}

const NEWLINE = 0x0a;
const SPACE = 0x20;
/** A header line longer than this is garbage (a binary file), not a database name. */
const MAX_HEADER_LINE = 1 << 20;
const DATA_END = Buffer.from('DATA=END', 'latin1');

type State = 'start' | 'header' | 'data' | 'between' | 'done';

interface HeaderFields {
  start: number;
  seen: Map<string, number>;
  format?: DumpFormat;
  type?: DumpType;
  database?: string;
  keys?: boolean;
  changes: HeaderChange[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function toBuffer(chunk: string | Uint8Array): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export class DumpParser {
  private readonly options: DumpParserOptions;
  private state: State = 'start';
  private lineNo = 0;
  private partial: Buffer[] = [];
  private partialLength = 0;
  private events: DumpEvent[] = [];
  private failure: unknown;

  private fields: HeaderFields | undefined;
  private header: DumpHeader | undefined;
  private keyed = false;
  private recnoKeys = false;
  private pendingKey: Buffer | undefined;
  private pendingKeyLine = 0;
  private count = 0;
  /** The longest data line (with its leading space) for a key and for a value (options.limits). */
  private keyLineCap = Infinity;
  private valueLineCap = Infinity;
  private keyLimit = '';
  private valueLimit = '';

  constructor(options: DumpParserOptions = {}) {
    this.options = { ...options };
    if (options.type !== undefined && !DUMP_TYPES.includes(options.type)) {
      throw new CairnError('INVALID_ARGUMENT', `unknown database type "${String(options.type)}"`);
    }
    checkOverrides(options.overrides ?? []);
    if (options.text === true) {
      if (options.type === undefined) {
        throw new CairnError('INVALID_ARGUMENT', 'no database type specified (-T input needs a type)');
      }
      // db_load -T reads like a print-format dump without a header.
      const file: DumpHeader = { version: 3, format: 'print', type: options.type, extra: [] };
      this.startSection(effectiveHeader(file, { overrides: options.overrides }), 0);
    }
  }

  /** Lines fully read so far. */
  get line(): number {
    return this.lineNo;
  }

  /** Feeds a chunk of input (strings are UTF-8 encoded); returns the events it completed. */
  write(chunk: string | Uint8Array): DumpEvent[] {
    this.guard();
    try {
      const buf = toBuffer(chunk);
      let pos = 0;
      for (let nl = buf.indexOf(NEWLINE, pos); nl >= 0; nl = buf.indexOf(NEWLINE, pos)) {
        let line = buf.subarray(pos, nl);
        if (this.partial.length > 0) {
          this.partial.push(line);
          line = Buffer.concat(this.partial, this.partialLength + line.length);
          this.partial = [];
          this.partialLength = 0;
        }
        this.processLine(line);
        pos = nl + 1;
      }
      if (pos < buf.length) {
        const rest = Buffer.from(buf.subarray(pos)); // a copy: the caller may reuse its buffer
        this.partial.push(rest);
        this.partialLength += rest.length;
        if (this.partialLength > MAX_HEADER_LINE && this.state !== 'data') {
          this.fail(this.lineNo + 1, `unexpected format: no newline in the first ${MAX_HEADER_LINE} bytes of a header line`);
        }
        if (this.state === 'data' && (this.options.text === true || this.partial[0]![0] === SPACE)) this.checkLineLength(this.partialLength, this.lineNo + 1);
      }
    } catch (err) {
      this.failure = err;
      throw err;
    }
    return this.take();
  }

  /** Feeds one complete line, without its newline. Not to be mixed with a partial write(). */
  writeLine(line: string | Uint8Array): DumpEvent[] {
    this.guard();
    if (this.partial.length > 0) {
      throw new CairnError('INVALID_ARGUMENT', 'writeLine() after a write() that ended inside a line');
    }
    try {
      this.processLine(toBuffer(line));
    } catch (err) {
      this.failure = err;
      throw err;
    }
    return this.take();
  }

  /** Signals end of input; returns the last events or throws if the input was incomplete. */
  end(): DumpEvent[] {
    this.guard();
    try {
      this.finish();
    } catch (err) {
      this.failure = err;
      throw err;
    }
    this.state = 'done';
    return this.take();
  }

  private guard(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.state === 'done') throw new CairnError('INVALID_ARGUMENT', 'DumpParser used after end()');
  }

  private take(): DumpEvent[] {
    const events = this.events;
    this.events = [];
    return events;
  }

  private fail(line: number, detail: string): never {
    throw new DumpFormatError(line, detail);
  }

  private processLine(line: Buffer): void {
    const n = ++this.lineNo;
    switch (this.state) {
      case 'start':
      case 'between':
        this.versionLine(line, n);
        break;
      case 'header':
        this.headerLine(line, n);
        break;
      case 'data':
        if (this.options.text === true) this.textLine(line, n);
        else this.dataLine(line, n);
        break;
      case 'done':
        throw new CairnError('INVALID_ARGUMENT', 'DumpParser used after end()');
    }
  }

  private finish(): void {
    if (this.partialLength > 0) {
      const rest = Buffer.concat(this.partial, this.partialLength);
      const n = this.lineNo + 1;
      if (rest.equals(DATA_END)) this.fail(n, 'DATA=END is not followed by a newline (truncated file?)');
      this.fail(n, `input ends inside a line (no newline after ${showBytes(rest)}): truncated file?`);
    }
    const n = this.lineNo + 1;
    switch (this.state) {
      case 'start':
        this.fail(1, 'empty input: expected a dump starting with VERSION=3');
        break;
      case 'header':
        this.fail(n, 'unexpected format: end of input before HEADER=END (truncated file?)');
        break;
      case 'data':
        if (this.pendingKey !== undefined) {
          this.fail(n, `end of input after a key with no value (key on line ${this.pendingKeyLine})`);
        }
        if (this.options.text !== true) this.fail(n, 'end of input before DATA=END (truncated file?)');
        this.events.push({ kind: 'end', line: this.lineNo, records: this.count });
        this.state = 'between';
        break;
      case 'between':
      case 'done':
        break;
    }
  }

  // ---- header ----------------------------------------------------------------------------------

  private versionLine(line: Buffer, n: number): void {
    const text = line.toString('latin1');
    if (!text.startsWith('VERSION=')) {
      const expected = this.state === 'between' ? 'VERSION=3 or end of input after DATA=END' : 'VERSION=3';
      this.fail(n, `unexpected format: expected ${expected}, got ${showBytes(line)}${crlfHint(line)}`);
    }
    // A CR is tolerated here only so that CRLF input is reported on line 2, as db_load does.
    const match = /^VERSION=([0-9]{1,9})\r?$/.exec(text);
    if (match === null) this.fail(n, `unexpected format: VERSION value ${showBytes(line.subarray(8))} is not a number`);
    const version = Number(match[1]);
    if (version !== 3) {
      this.fail(n, `VERSION ${version} is unsupported${version < 3 ? ' (only VERSION=3 dumps are read)' : ''}`);
    }
    this.fields = { start: n, seen: new Map([['VERSION', n]]), changes: [] };
    this.state = 'header';
  }

  private headerLine(line: Buffer, n: number): void {
    const fields = this.fields!;
    if (line.length > 0 && line[0] === SPACE) this.fail(n, 'unexpected format: data before HEADER=END');
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (c < 0x20 || c > 0x7e) {
        const what = `byte 0x${c.toString(16).padStart(2, '0')} at column ${i + 1}`;
        this.fail(n, `unexpected format: ${what} in a header line${crlfHint(line)}`);
      }
    }
    const text = line.toString('latin1');
    const eq = text.indexOf('=');
    if (eq < 0) this.fail(n, `unexpected format: header line without "=": ${showBytes(line)}`);
    if (eq === 0) this.fail(n, `unexpected format: header line with an empty name: ${showBytes(line)}`);
    const name = text.slice(0, eq);
    const value = text.slice(eq + 1);
    const slot = name === 'subdatabase' ? 'database' : name;
    const first = fields.seen.get(slot);
    if (first !== undefined) this.fail(n, `duplicate header keyword "${name}" (first on line ${first})`);
    fields.seen.set(slot, n);

    if (slot === 'database') {
      fields.database = this.databaseName(line.subarray(eq + 1), n);
      return;
    }
    if (value === '') this.fail(n, `unexpected format: empty value for "${name}"`);
    switch (name) {
      case 'HEADER':
        if (value !== 'END') this.fail(n, `unexpected format: ${showBytes(line)} (expected HEADER=END)`);
        this.endHeader(n);
        return;
      case 'DATA':
        this.fail(n, 'unexpected format: DATA=END before HEADER=END');
        break;
      case 'format':
        if (value !== 'bytevalue' && value !== 'print') {
          this.fail(n, `unexpected format: unknown format "${value}" (expected bytevalue or print)`);
        }
        fields.format = value;
        return;
      case 'type':
        if (value === 'heap') this.fail(n, 'type "heap" is not supported');
        if (!DUMP_TYPES.includes(value as DumpType)) this.fail(n, `unknown type "${value}"`);
        fields.type = value as DumpType;
        return;
      case 'keys':
        if (value !== '0' && value !== '1') {
          this.fail(n, `keys=${value}: boolean name=value pairs require a value of 0 or 1`);
        }
        fields.keys = value === '1';
        return;
      case 'nparts':
        this.fail(n, 'partitioned databases (nparts=) are not supported');
        break;
    }
    const change = parseConfig(name, value);
    if (change === undefined) this.fail(n, `unknown input-file header configuration keyword "${name}"`);
    if (typeof change === 'string') this.fail(n, `${name}=${value}: ${change}`);
    fields.changes.push(change);
  }

  private databaseName(encoded: Buffer, n: number): string {
    const bytes = decodeEscaped(encoded, 0, encoded.length, n, 'database name', false);
    if (bytes.includes(0)) this.fail(n, 'database name contains a NUL byte');
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail(n, `database name ${showBytes(bytes)} is not valid UTF-8`);
    }
  }

  private endHeader(n: number): void {
    const fields = this.fields!;
    this.fields = undefined;
    if (fields.format === undefined) this.fail(n, 'no format= line in the header');
    const type = fields.type ?? this.options.type;
    if (type === undefined) this.fail(n, 'no database type specified (no type= line in the header)');
    const file: DumpHeader = { version: 3, format: fields.format, type, extra: [] };
    if (fields.database !== undefined) file.database = fields.database;
    if (fields.keys !== undefined) file.keys = fields.keys;
    for (const change of fields.changes) change(file);
    let header: DumpHeader;
    try {
      header = effectiveHeader(file, this.options);
    } catch (err) {
      if (err instanceof DumpOverrideError || !(err instanceof CairnError)) throw err;
      this.fail(n, err.message);
    }
    const reLenLine = header.reLen === file.reLen ? fields.seen.get('re_len') : undefined;
    const problem = this.reLenProblem(header);
    if (problem !== undefined) this.fail(reLenLine ?? n, `${problem}${reLenLine === undefined ? ' (set by -c re_len)' : ''}`);
    this.startSection(header, fields.start);
  }

  /** Why the section's re_len cannot be loaded (above the value limit), or undefined. */
  private reLenProblem(header: DumpHeader): string | undefined {
    const limit = this.options.limits?.value;
    if (limit === undefined || !isRecordNumbered(header.type) || header.reLen === undefined || header.reLen <= limit) return undefined;
    return `re_len=${header.reLen} exceeds the limit of ${limit} bytes for a value (every record is padded to re_len)`;
  }

  /** Refuses a data line of `length` bytes (so far) that is certainly longer than the limit of its item. */
  private checkLineLength(length: number, n: number): void {
    const key = this.keyed && this.pendingKey === undefined;
    if (length <= (key ? this.keyLineCap : this.valueLineCap)) return;
    this.fail(n, `${key ? `key longer than ${this.keyLimit}` : `value longer than ${this.valueLimit}`} (a line of more than ${key ? this.keyLineCap : this.valueLineCap} bytes)`);
  }

  private startSection(header: DumpHeader, line: number): void {
    if (line === 0) {
      const problem = this.reLenProblem(header);
      if (problem !== undefined) throw new CairnError('INVALID_ARGUMENT', `-c re_len=${header.reLen}: ${problem}`);
    }
    // Line caps: the longest encoding of an item within its limit, plus the leading space.
    const perByte = header.format === 'bytevalue' ? 2 : 3;
    const lead = this.options.text === true ? 0 : 1;
    const limits = this.options.limits ?? {};
    const fixed = this.options.limits !== undefined && isRecordNumbered(header.type) ? header.reLen : undefined;
    this.keyLineCap = limits.key === undefined ? Infinity : lead + perByte * limits.key;
    this.keyLimit = `the limit of ${limits.key} bytes`;
    const value = fixed !== undefined && (limits.value === undefined || fixed < limits.value) ? fixed : limits.value;
    this.valueLineCap = value === undefined ? Infinity : lead + perByte * value;
    this.valueLimit = value === fixed && fixed !== undefined ? `the fixed record length re_len=${fixed}` : `the limit of ${value} bytes`;
    this.header = header;
    this.keyed = hasKeyLines(header);
    this.recnoKeys = this.keyed && isRecordNumbered(header.type);
    this.pendingKey = undefined;
    this.count = 0;
    this.state = 'data';
    this.events.push({ kind: 'header', header, line });
  }

  // ---- data ------------------------------------------------------------------------------------

  private dataLine(line: Buffer, n: number): void {
    if (line.length > 0 && line[0] === SPACE) this.checkLineLength(line.length, n);
    else {
      if (line.equals(DATA_END)) {
        this.endSection(n);
        return;
      }
      const what = 'expected a data line starting with a space, or DATA=END';
      this.fail(n, `unexpected format: ${what}, got ${showBytes(line)}${crlfHint(line)}`);
    }
    const role = this.keyed && this.pendingKey === undefined ? 'key' : 'value';
    const item = this.header!.format === 'print'
      ? decodeEscaped(line, 1, line.length, n, role, false)
      : decodeBytevalue(line, 1, line.length, n, role);
    this.item(item, n);
  }

  private textLine(line: Buffer, n: number): void {
    this.checkLineLength(line.length, n);
    const role = this.keyed && this.pendingKey === undefined ? 'key' : 'value';
    this.item(decodeEscaped(line, 0, line.length, n, role, true), n);
  }

  private item(item: Buffer, n: number): void {
    if (this.keyed && this.pendingKey === undefined) {
      if (this.recnoKeys) {
        const problem = recnoKeyProblem(item);
        if (problem !== undefined) this.fail(n, problem);
      }
      this.pendingKey = item;
      this.pendingKeyLine = n;
      return;
    }
    const index = ++this.count;
    let record: DumpRecord;
    if (this.keyed) {
      const key = this.pendingKey!;
      record = { key, value: item, line: this.pendingKeyLine, index };
      if (this.recnoKeys) {
        record.recno = Number(key.toString('latin1'));
        record.key = recnoToKey(record.recno); // canonical digits (no leading zeros)
      }
      this.pendingKey = undefined;
    } else {
      if (index > RECNO_MAX) this.fail(n, `more than ${RECNO_MAX} records in a ${this.header!.type} database`);
      record = { key: recnoToKey(index), value: item, recno: index, line: n, index };
    }
    this.events.push({ kind: 'record', record });
  }

  private endSection(n: number): void {
    if (this.pendingKey !== undefined) {
      this.fail(n, `DATA=END after a key with no value (key on line ${this.pendingKeyLine})`);
    }
    this.events.push({ kind: 'end', line: n, records: this.count });
    this.header = undefined;
    this.state = 'between';
  }
}

// ---- convenience wrappers ------------------------------------------------------------------------

export interface DumpSection<Records> {
  header: DumpHeader;
  /** The section's VERSION line (0 for -T input). */
  line: number;
  records: Records;
}

/** Parses a whole dump held in memory. For small inputs and tests; large ones should stream. */
export function parseDumpText(input: string | Uint8Array, options: DumpParserOptions = {}): Array<DumpSection<DumpRecord[]>> {
  const parser = new DumpParser(options);
  const sections: Array<DumpSection<DumpRecord[]>> = [];
  const collect = (events: DumpEvent[]): void => {
    for (const event of events) {
      if (event.kind === 'header') sections.push({ header: event.header, line: event.line, records: [] });
      else if (event.kind === 'record') sections[sections.length - 1]!.records.push(event.record);
    }
  };
  collect(parser.write(input));
  collect(parser.end());
  return sections;
}

/**
 * Parses a stream of chunks (a Readable, or any iterable of strings/bytes) into sections whose
 * records are read lazily. Each section's records must be consumed before asking for the next
 * section; records left unread are skipped (and still checked).
 */
export async function* parseDump(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array> | string,
  options: DumpParserOptions = {},
): AsyncGenerator<DumpSection<AsyncIterable<DumpRecord>>> {
  const parser = new DumpParser(options);
  const input: AsyncIterator<string | Uint8Array> | Iterator<string | Uint8Array> =
    typeof source === 'string' // a string is iterable too, but one character at a time
      ? [source][Symbol.iterator]()
      : Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : source[Symbol.iterator]();
  let queue: DumpEvent[] = [];
  let at = 0;
  let ended = false;
  const next = async (): Promise<DumpEvent | undefined> => {
    while (at >= queue.length) {
      if (ended) return undefined;
      const step = await input.next();
      if (step.done === true) {
        ended = true;
        queue = parser.end();
      } else {
        queue = parser.write(step.value);
      }
      at = 0;
    }
    return queue[at++];
  };
  for (;;) {
    const event = await next();
    if (event === undefined) return;
    if (event.kind !== 'header') throw new CairnError('INVALID_ARGUMENT', `DumpParser: unexpected ${event.kind} event`);
    let sectionDone = false;
    let taken = false;
    let stale = false;
    const records: AsyncIterable<DumpRecord> = {
      [Symbol.asyncIterator]: async function* () {
        if (taken || stale) {
          throw new CairnError('INVALID_ARGUMENT', 'the records of a dump section can be read only once, in order');
        }
        taken = true;
        for (;;) {
          const e = await next();
          if (e === undefined || e.kind === 'end') {
            sectionDone = true;
            return;
          }
          if (e.kind === 'record') yield e.record;
        }
      },
    };
    yield { header: event.header, line: event.line, records };
    while (!sectionDone) {
      const e = await next();
      if (e === undefined || e.kind === 'end') sectionDone = true;
    }
    stale = true;
  }
}
