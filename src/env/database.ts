// A database handle: one B-tree named in a data file's catalog (docs/DESIGN.md §Layers).
//
// Reads without a transaction see the latest committed state (synchronously); iterators
// without a transaction hold a snapshot for as long as they run. Writes need a transaction;
// without one they run in their own auto-committed transaction and return a promise.

import { BTree, type Cursor, type DupMode } from '../btree/btree.js';
import type { PageReader } from '../btree/store.js';
import { type DataFile, type Pager, PeekReader, SnapshotReader, inFile, locateCorruption } from '../page/pager.js';
import type { Transaction } from '../txn/txn.js';
import { CairnError, invalid } from '../util/errors.js';
import { type Hold, letGo, newHold, watch } from '../txn/forgotten.js';

export type Bytes = Uint8Array | string;

/** What the catalog stores for each database (JSON in the catalog tree's value). */
export interface Descriptor {
  root: number;
  dup: DupMode;
  /** The Berkeley DB access method a loaded dump came from, so db_dump writes it back the same way. */
  type?: 'btree' | 'hash' | 'recno' | 'queue';
  /** Extra Berkeley DB dump header fields to reproduce (e.g. re_len). */
  dumpHeader?: Array<[string, string]>;
}

export function encodeDescriptor(d: Descriptor): Buffer {
  return Buffer.from(JSON.stringify(d), 'utf8');
}

export function decodeDescriptor(buf: Buffer, where: string): Descriptor {
  try {
    const d = JSON.parse(buf.toString('utf8')) as Descriptor;
    if (typeof d.root !== 'number' || !['none', 'sorted', 'unsorted'].includes(d.dup)) throw new Error('bad fields');
    return d;
  } catch {
    throw new CairnError('CORRUPT', `${where}: catalog entry is not a valid database descriptor`);
  }
}

export const MAX_KEY_SIZE = 64 * 1024;
export const MAX_VALUE_SIZE = 512 * 1024 * 1024;

export function toBuffer(b: Bytes, what: string): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  throw invalid(`${what} must be a Uint8Array or a string, got ${b === null ? 'null' : typeof b}`);
}

function keyOf(k: Bytes): Buffer {
  const b = toBuffer(k, 'key');
  if (b.length > MAX_KEY_SIZE) throw new CairnError('TOO_LARGE', `key of ${b.length} bytes exceeds the limit of ${MAX_KEY_SIZE}`);
  return b;
}

function valueOf(v: Bytes): Buffer {
  const b = toBuffer(v, 'value');
  if (b.length > MAX_VALUE_SIZE) throw new CairnError('TOO_LARGE', `value of ${b.length} bytes exceeds the limit of ${MAX_VALUE_SIZE}`);
  return b;
}

export interface RangeOptions {
  gt?: Bytes;
  gte?: Bytes;
  lt?: Bytes;
  lte?: Bytes;
  /** Keys starting with these bytes (combined with the other bounds). */
  prefix?: Bytes;
  reverse?: boolean;
  limit?: number;
}

/** What a Database needs from its environment. */
export interface DbHost {
  readonly pager: Pager;
  checkUsable(): void;
  autoCommit<T>(fn: (txn: Transaction) => T): Promise<T>;
  /** Verifies a transaction belongs to this environment and is active. */
  checkTxn(txn: Transaction): void;
}

/** The smallest key greater than every key with this prefix, or undefined (all 0xff). */
function prefixEnd(prefix: Buffer): Buffer | undefined {
  const out = Buffer.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  return undefined;
}

export class DbCursor {
  private open = true;
  /** @internal */
  constructor(
    private readonly inner: Cursor,
    private readonly release: () => void,
    private readonly check: () => void,
    private readonly file: DataFile,
  ) {}
  private step(f: () => [Buffer, Buffer] | undefined): [Buffer, Buffer] | undefined {
    if (!this.open) throw new CairnError('CLOSED', 'the cursor is closed');
    this.check();
    return inFile(this.file, f);
  }
  first(): [Buffer, Buffer] | undefined {
    return this.step(() => this.inner.first());
  }
  last(): [Buffer, Buffer] | undefined {
    return this.step(() => this.inner.last());
  }
  /** The first pair with key ≥ `key`. */
  seek(key: Bytes): [Buffer, Buffer] | undefined {
    const k = keyOf(key);
    return this.step(() => this.inner.seek(k));
  }
  /** The last pair with key ≤ `key`. */
  seekLast(key: Bytes): [Buffer, Buffer] | undefined {
    const k = keyOf(key);
    return this.step(() => this.inner.seekLast(k));
  }
  next(): [Buffer, Buffer] | undefined {
    return this.step(() => this.inner.next());
  }
  prev(): [Buffer, Buffer] | undefined {
    return this.step(() => this.inner.prev());
  }
  /** Releases the cursor's snapshot. Idempotent. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.release();
  }
}

export class Database {
  readonly fileName: string;
  readonly name: string | undefined;
  readonly duplicates: DupMode;
  readonly descriptor: Descriptor;
  /** @internal */
  readonly file: DataFile;
  /** @internal */
  readonly tree: BTree;
  private readonly host: DbHost;
  /** Point reads without a transaction: the latest state, pages not kept (Pager.peek). */
  private readonly peeker: PeekReader;
  private closed = false;

  /** @internal Use env.openDatabase(). */
  constructor(host: DbHost, file: DataFile, name: string | undefined, desc: Descriptor) {
    this.host = host;
    this.file = file;
    this.fileName = file.name;
    this.name = name;
    this.descriptor = desc;
    this.duplicates = desc.dup;
    this.tree = new BTree(desc.root, desc.dup);
    this.peeker = new PeekReader(host.pager, file);
  }

  private check(txn?: Transaction): void {
    this.host.checkUsable();
    if (this.closed || this.file.removed) throw new CairnError('CLOSED', `database ${this.label} is closed or was removed`);
    if (txn !== undefined) this.host.checkTxn(txn);
  }

  get label(): string {
    return this.name === undefined ? this.fileName : `${this.fileName}:${this.name}`;
  }

  /** The value (the first duplicate in duplicate databases), or undefined. */
  get(key: Bytes, txn?: Transaction): Buffer | undefined {
    this.check(txn);
    const k = keyOf(key);
    if (txn !== undefined) return inFile(this.file, () => this.tree.get(txn.reader(this.file), k));
    // No closure per call: the hot path of point reads (PERFORMANCE.md §W4).
    try {
      return this.tree.get(this.peeker, k);
    } catch (e) {
      throw locateCorruption(e, this.file);
    } finally {
      this.host.pager.settle();
    }
  }

  /** Every duplicate of a key, in order ([] when absent). */
  getAll(key: Bytes, txn?: Transaction): Buffer[] {
    this.check(txn);
    const k = keyOf(key);
    if (txn !== undefined) return inFile(this.file, () => this.tree.getAll(txn.reader(this.file), k));
    try {
      return this.tree.getAll(this.peeker, k);
    } catch (e) {
      throw locateCorruption(e, this.file);
    } finally {
      this.host.pager.settle();
    }
  }

  has(key: Bytes, txn?: Transaction): boolean {
    return this.get(key, txn) !== undefined;
  }

  /**
   * Stores a pair. In a database without duplicates it replaces the key's value; with
   * duplicates it adds the pair. With `noOverwrite` an existing key is left alone and
   * false is returned.
   */
  put(key: Bytes, value: Bytes, txn: Transaction, options?: { noOverwrite?: boolean }): boolean;
  put(key: Bytes, value: Bytes, txn?: undefined, options?: { noOverwrite?: boolean }): Promise<boolean>;
  put(key: Bytes, value: Bytes, txn?: Transaction, options?: { noOverwrite?: boolean }): boolean | Promise<boolean> {
    this.check(txn);
    const k = keyOf(key);
    const v = valueOf(value);
    if (txn === undefined) return this.host.autoCommit((t) => this.put(k, v, t, options));
    const noOverwrite = options?.noOverwrite === true;
    const tree = this.tree;
    const file = this.file;
    let result = false;
    // One closure per put (kept for the replay at commit); no second one for inFile.
    txn.apply((t) => {
      try {
        result = tree.putChecked(t.writer(file), k, v, noOverwrite);
      } catch (e) {
        throw locateCorruption(e, file);
      }
    });
    return result;
  }

  /** Removes a key (all its duplicates), or one pair when `value` is given. Returns how many pairs went. */
  del(key: Bytes, txn: Transaction, value?: Bytes): number;
  del(key: Bytes, txn?: undefined, value?: Bytes): Promise<number>;
  del(key: Bytes, txn?: Transaction, value?: Bytes): number | Promise<number> {
    this.check(txn);
    const k = keyOf(key);
    const v = value === undefined ? undefined : valueOf(value);
    if (txn === undefined) return this.host.autoCommit((t) => this.del(k, t, v));
    let n = 0;
    txn.apply((t) => {
      n = inFile(this.file, () => this.tree.del(t.writer(this.file), k, v));
    });
    return n;
  }

  /** Removes every pair (transactional); returns how many there were. */
  truncate(txn: Transaction): number;
  truncate(txn?: undefined): Promise<number>;
  truncate(txn?: Transaction): number | Promise<number> {
    this.check(txn);
    if (txn === undefined) return this.host.autoCommit((t) => this.truncate(t));
    let n = 0;
    txn.apply((t) => {
      n = inFile(this.file, () => this.tree.truncate(t.writer(this.file)));
    });
    return n;
  }

  /** Number of pairs (walks the tree). */
  count(txn?: Transaction): number {
    this.check(txn);
    if (txn !== undefined) return inFile(this.file, () => this.tree.count(txn.reader(this.file)));
    return this.withSnapshot((r) => this.tree.count(r));
  }

  /** Runs fn over a snapshot reader that stays valid until fn returns. */
  private withSnapshot<T>(fn: (r: PageReader) => T): T {
    const pager = this.host.pager;
    const seq = pager.openSnapshot();
    try {
      return inFile(this.file, () => fn(new SnapshotReader(pager, this.file, seq)));
    } finally {
      pager.releaseSnapshot(seq);
    }
  }

  /**
   * Pairs in key order (memcmp; duplicates in their order) within the bounds. Without a
   * transaction the iterator reads one snapshot, taken at its first step, until it finishes or
   * is left with break/return: changes committed meanwhile, even across awaits, are not seen.
   * An iterator dropped unfinished releases its snapshot once garbage collected. Each step
   * checks the environment (CLOSED after env.close()) and the snapshot (SNAPSHOT_TOO_OLD).
   */
  range(options: RangeOptions = {}, txn?: Transaction): Generator<[Buffer, Buffer], void, undefined> {
    const hold = newHold(this.host.pager);
    const it = this.rangeOf(options, txn, hold);
    if (txn === undefined) watch(it, hold);
    return it;
  }

  private *rangeOf(options: RangeOptions, txn: Transaction | undefined, hold: Hold): Generator<[Buffer, Buffer], void, undefined> {
    this.check(txn);
    let { gt, gte, lt, lte } = options;
    const limit = options.limit ?? Infinity;
    if (!(limit >= 0)) throw invalid('range limit must be a number ≥ 0');
    let lo: Buffer | undefined = gte !== undefined ? keyOf(gte) : gt !== undefined ? keyOf(gt) : undefined;
    let loOpen = gte === undefined && gt !== undefined;
    let hi: Buffer | undefined = lte !== undefined ? keyOf(lte) : lt !== undefined ? keyOf(lt) : undefined;
    let hiOpen = lte === undefined && lt !== undefined;
    if (options.prefix !== undefined) {
      const p = keyOf(options.prefix);
      if (lo === undefined || Buffer.compare(p, lo) > 0) {
        lo = p;
        loOpen = false;
      }
      const end = prefixEnd(p);
      if (end !== undefined && (hi === undefined || Buffer.compare(end, hi) <= 0)) {
        hi = end;
        hiOpen = true;
      }
    }
    if (limit === 0) return;
    const pager = this.host.pager;
    const seq = txn === undefined ? (hold.seq = pager.openSnapshot()) : -1;
    try {
      const reader = txn === undefined ? new SnapshotReader(pager, this.file, seq) : txn.reader(this.file);
      const cursor = this.tree.cursor(reader);
      let n = 0;
      if (!options.reverse) {
        let e = lo === undefined ? cursor.first() : cursor.seek(lo);
        while (e !== undefined && loOpen && lo !== undefined && Buffer.compare(e[0], lo) === 0) e = cursor.next();
        for (; e !== undefined; e = cursor.next()) {
          if (hi !== undefined) {
            const c = Buffer.compare(e[0], hi);
            if (c > 0 || (c === 0 && hiOpen)) return;
          }
          yield e;
          if (++n >= limit) return;
          // Before the cursor reads again: the environment may have closed, the transaction
          // ended, or the snapshot been invalidated while the caller ran.
          this.check(txn);
          if (seq >= 0) pager.checkSnapshot(seq);
        }
      } else {
        let e = hi === undefined ? cursor.last() : cursor.seekLast(hi);
        while (e !== undefined && hiOpen && hi !== undefined && Buffer.compare(e[0], hi) === 0) e = cursor.prev();
        for (; e !== undefined; e = cursor.prev()) {
          if (lo !== undefined) {
            const c = Buffer.compare(e[0], lo);
            if (c < 0 || (c === 0 && loOpen)) return;
          }
          yield e;
          if (++n >= limit) return;
          this.check(txn);
          if (seq >= 0) pager.checkSnapshot(seq);
        }
      }
    } catch (e) {
      throw locateCorruption(e, this.file);
    } finally {
      if (seq >= 0 && letGo(hold)) pager.releaseSnapshot(seq);
    }
  }

  /**
   * A cursor for positioned reads: first/last/seek/seekLast/next/prev each return the pair it
   * lands on or undefined. Without a transaction it reads one snapshot until close().
   */
  cursor(txn?: Transaction): DbCursor {
    this.check(txn);
    const pager = this.host.pager;
    const seq = txn === undefined ? pager.openSnapshot() : -1;
    const hold = newHold(pager, seq);
    const reader = txn === undefined ? new SnapshotReader(pager, this.file, seq) : txn.reader(this.file);
    const cursor = new DbCursor(this.tree.cursor(reader), () => {
      if (seq >= 0 && letGo(hold)) pager.releaseSnapshot(seq);
    }, () => {
      this.check(txn);
      if (seq >= 0) pager.checkSnapshot(seq);
    }, this.file);
    // A cursor dropped without close() releases its snapshot once garbage collected.
    if (seq >= 0) watch(cursor, hold);
    return cursor;
  }

  /** Keys only, same options as range(). */
  *keys(options: RangeOptions = {}, txn?: Transaction): Generator<Buffer, void, undefined> {
    for (const [k] of this.range(options, txn)) yield k;
  }

  /** Structural problems of the database's tree at the latest committed state ([] when sound). */
  verify(): string[] {
    this.check();
    return this.withSnapshot((r) => this.tree.verify(r));
  }

  /** @internal */
  markClosed(): void {
    this.closed = true;
  }
}
