// A database handle: one B-tree named in a data file's catalog (docs/DESIGN.md §Code map).
//
// Reads without a transaction see the latest committed state (synchronously); iterators
// without a transaction hold a snapshot for as long as they run. Writes need a transaction;
// without one they run in their own auto-committed transaction and return a promise.

import { BTree, type Cursor, type DupMode, type ScanOptions } from '../btree/btree.js';
import type { PageReader } from '../page/store.js';
import { type DataFile, type Pager, PeekReader, SnapshotReader, inFile, locateCorruption } from '../page/pager.js';
import { Transaction } from '../txn/txn.js';
import { CairnError, CorruptionError, invalid } from '../util/errors.js';
import { type Encoding, encodeOrderedPrefix, isOrdered, type OrderedKey } from './encoding.js';
import { MetaOffset } from '../page/meta.js';
import { type Hold, letGo, newHold, watch } from '../txn/forgotten.js';

/** A key or value as given: bytes (a Buffer or any Uint8Array) or a string, stored as UTF-8. */
export type Bytes = Uint8Array | string;

/**
 * What a method takes for a key or value whose handle returns T: bytes or a string where T is
 * Buffer (the 'binary' encoding), T itself otherwise.
 */
export type Input<T> = [T] extends [Buffer] ? Bytes : T;

/** What the catalog stores for each database (JSON in the catalog tree's value). */
export interface Descriptor {
  /** The B-tree's root page. */
  root: number;
  /** The duplicates mode, fixed at creation. */
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

/**
 * Why a descriptor's root cannot be the root of a database tree in a file whose catalog is
 * rooted at catalogRoot, or undefined: not a page number, the meta page, or the catalog's own
 * root (issue 21, F13: its entries read as user data, user writes going into the catalog).
 */
export function badDescriptorRoot(d: Descriptor, catalogRoot: number): string | undefined {
  const root = d.root;
  if (!Number.isInteger(root) || root <= 0 || root > 0xffff_ffff) return `root page number ${root} is not a page number`;
  if (root === catalogRoot) return `root page ${root} is the catalog's root`;
  return undefined;
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

/**
 * Bounds and order of `db.range()`, `count`, `clear`, `keys` and `values` (keys compare in
 * memcmp order of their encoded bytes: for 'ordered' keys, the order of the values).
 */
export interface RangeOptions<K = Buffer> {
  /** Keys greater than this. */
  gt?: Input<K> | undefined;
  /** Keys greater than or equal to this. */
  gte?: Input<K> | undefined;
  /** Keys less than this. */
  lt?: Input<K> | undefined;
  /** Keys less than or equal to this. */
  lte?: Input<K> | undefined;
  /**
   * Keys starting with these bytes (combined with the other bounds). With the 'ordered' key
   * encoding: strings that start with this string, or arrays whose first elements are these.
   */
  prefix?: Input<K> | undefined;
  /** Largest key first. */
  reverse?: boolean | undefined;
  /** At most this many pairs. */
  limit?: number | undefined;
}

/**
 * Options of `db.put`. Both conditions read the key, so a transaction using one conflicts with
 * a concurrent commit to the same data file (CONFLICT; `env.transaction(fn)` runs fn again)
 * rather than applying a decision made on data that changed.
 */
export interface PutOptions<V = Buffer> {
  /** Leave an existing key alone and return false (Berkeley DB's DB_NOOVERWRITE). */
  noOverwrite?: boolean | undefined;
  /**
   * Compare-and-set: write only when the key's current value equals this one (byte for byte,
   * once encoded); otherwise write nothing and return false (also when the key is absent: use
   * noOverwrite to insert only when absent). Not for databases with duplicates.
   */
  ifValue?: Input<V> | undefined;
}

/** A promise-returning call never throws: what fails before the promise exists rejects it. */
function rejecting<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}

/** @internal What a Database needs from its environment. */
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

/**
 * A cursor over one database (`db.cursor(txn?)`): positions with first/last/seek/seekLast, steps
 * with next/prev; each returns `[key, value]` or undefined past either end. Without a transaction
 * it holds a snapshot until `close()`.
 */
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
  /** The pair with the smallest key. */
  first(): [Buffer, Buffer] | undefined {
    return this.step(() => this.inner.first());
  }
  /** The pair with the largest key. */
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
  /** The pair after the current one. */
  next(): [Buffer, Buffer] | undefined {
    return this.step(() => this.inner.next());
  }
  /** The pair before the current one. */
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

/** The B-tree scan bounds of range bounds. */
function scanOf(b: Bounds): ScanOptions {
  const o: ScanOptions = {};
  if (b.lo !== undefined) {
    if (b.loOpen) o.gt = b.lo;
    else o.gte = b.lo;
  }
  if (b.hi !== undefined) {
    if (b.hiOpen) o.lt = b.hi;
    else o.lte = b.hi;
  }
  return o;
}

/** Keys and values of a handle as stored: bound conversions, or undefined for bytes as given ('binary'). */
export interface Encodings<K, V> {
  key: Encoding<K> | undefined;
  value: Encoding<V> | undefined;
}

/** Range bounds in stored bytes. */
interface Bounds {
  lo: Buffer | undefined;
  loOpen: boolean;
  hi: Buffer | undefined;
  hiOpen: boolean;
}

/**
 * A database: one B-tree in a data file (`env.openDatabase<K, V>(file, { name?, keyEncoding?,
 * valueEncoding? })`). Reads take an optional transaction (without one: the latest committed
 * state); writes take a transaction and return their result, or without one commit on their own
 * and return a promise. K and V are what reads return for keys and values (Buffer with the
 * default 'binary' encoding, which also takes strings, stored as UTF-8).
 */
export class Database<K = Buffer, V = Buffer> {
  /** The data file's name. */
  readonly fileName: string;
  /** The database's name inside the file (undefined: the file's unnamed database). */
  readonly name: string | undefined;
  /** The duplicates mode: 'none', 'sorted' or 'unsorted'. */
  readonly duplicates: DupMode;
  /** @internal */
  readonly descriptor: Descriptor;
  /** @internal */
  readonly file: DataFile;
  /** @internal */
  readonly tree: BTree;
  private readonly host: DbHost;
  /** Point reads without a transaction: the latest state, pages not kept (Pager.peek). */
  private readonly peeker: PeekReader;
  private readonly kenc: Encoding<K> | undefined;
  private readonly venc: Encoding<V> | undefined;
  private closed = false;

  /** @internal Use env.openDatabase(). */
  constructor(host: DbHost, file: DataFile, name: string | undefined, desc: Descriptor, encodings?: Encodings<K, V>) {
    this.host = host;
    this.file = file;
    this.fileName = file.name;
    this.name = name;
    this.descriptor = desc;
    this.duplicates = desc.dup;
    this.kenc = encodings?.key;
    this.venc = encodings?.value;
    const catalogRoot = host.pager.read(file, 0, Infinity).readUInt32LE(MetaOffset.catalogRoot);
    const r = new SnapshotReader(host.pager, file, Infinity);
    const catalog = new BTree(catalogRoot, 'none');
    const own = Buffer.from(name ?? '', 'utf8');
    let bad = badDescriptorRoot(desc, catalogRoot);
    // Two databases never share a root: a descriptor set to another database's root would read
    // and write that database's tree as its own (issue 21, found by the fuzzer: missing keys).
    if (bad === undefined) {
      inFile(file, () => {
        const c = catalog.cursor(r);
        for (let e = c.first(); e !== undefined && bad === undefined; e = c.next()) {
          if (!e[0].equals(own) && decodeDescriptor(e[1], file.path).root === desc.root) bad = `root page ${desc.root} is also the root of database "${e[0].toString('utf8')}"`;
        }
      });
    }
    if (bad !== undefined) {
      // Located at the catalog leaf that holds the entry.
      const leaf = inFile(file, () => catalog.leafFor(r, own));
      throw new CorruptionError(file.path, leaf * file.pageSize, `the catalog entry of database ${this.label}: ${bad}; run db_verify`);
    }
    this.tree = new BTree(desc.root, desc.dup);
    this.peeker = new PeekReader(host.pager, file);
  }

  private check(txn?: Transaction): void {
    this.host.checkUsable();
    if (this.closed || this.file.removed) throw new CairnError('CLOSED', `database ${this.label} is closed or was removed`);
    if (txn !== undefined) this.host.checkTxn(txn);
  }

  /** `file` or `file:name`, as messages name the database. */
  get label(): string {
    return this.name === undefined ? this.fileName : `${this.fileName}:${this.name}`;
  }

  /** The stored bytes of a key as given. */
  private keyIn(key: Input<K>): Buffer {
    return keyOf(this.kenc === undefined ? (key as Bytes) : this.kenc.encode(key as K));
  }

  /** The stored bytes of a value as given. */
  private valueIn(value: Input<V>): Buffer {
    return valueOf(this.venc === undefined ? (value as Bytes) : this.venc.encode(value as V));
  }

  /** A stored key as this handle returns it. */
  private keyOut(b: Buffer): K {
    return this.kenc === undefined ? (b as K) : this.kenc.decode(b);
  }

  /** A stored value as this handle returns it. */
  private valueOut(b: Buffer): V {
    return this.venc === undefined ? (b as V) : this.venc.decode(b);
  }

  /** The value (the first duplicate in duplicate databases), or undefined. */
  get(key: Input<K>, txn?: Transaction): V | undefined {
    this.check(txn);
    const k = this.keyIn(key);
    let v: Buffer | undefined;
    if (txn !== undefined) v = inFile(this.file, () => this.tree.get(txn.reader(this.file), k));
    else {
      // No closure per call: the hot path of point reads (PERFORMANCE.md §W4).
      try {
        v = this.tree.get(this.peeker, k);
      } catch (e) {
        throw locateCorruption(e, this.file);
      } finally {
        this.host.pager.settle();
      }
    }
    return v === undefined || this.venc === undefined ? (v as V | undefined) : this.venc.decode(v);
  }

  /**
   * The values of several keys, in the order given (undefined for an absent key), all read
   * from one snapshot: without a transaction, the latest committed state at the call.
   */
  getMany(keys: readonly Input<K>[], txn?: Transaction): Array<V | undefined> {
    this.check(txn);
    if (!Array.isArray(keys)) throw invalid('getMany takes an array of keys');
    const ks = keys.map((k) => this.keyIn(k));
    const read = (r: PageReader): Array<V | undefined> =>
      ks.map((k) => {
        const v = this.tree.get(r, k);
        return v === undefined ? undefined : this.valueOut(v);
      });
    if (txn !== undefined) return inFile(this.file, () => read(txn.reader(this.file)));
    return this.withSnapshot(read);
  }

  /** Every duplicate of a key, in order ([] when absent). */
  getAll(key: Input<K>, txn?: Transaction): V[] {
    this.check(txn);
    const k = this.keyIn(key);
    let vs: Buffer[];
    if (txn !== undefined) vs = inFile(this.file, () => this.tree.getAll(txn.reader(this.file), k));
    else {
      try {
        vs = this.tree.getAll(this.peeker, k);
      } catch (e) {
        throw locateCorruption(e, this.file);
      } finally {
        this.host.pager.settle();
      }
    }
    return this.venc === undefined ? (vs as V[]) : vs.map((v) => this.valueOut(v));
  }

  /** Whether the key is present. */
  has(key: Input<K>, txn?: Transaction): boolean {
    return this.get(key, txn) !== undefined;
  }

  /**
   * Stores a pair. In a database without duplicates it replaces the key's value; with
   * duplicates it adds the pair. With `noOverwrite` an existing key is left alone, with
   * `ifValue` a key whose value differs (or is absent), and false is returned. In `txn`:
   * returns at once; without one: commits on its own and returns a promise (which rejects,
   * never throws, on bad input).
   */
  put(key: Input<K>, value: Input<V>, txn: Transaction, options?: PutOptions<V>): boolean;
  /** Without a transaction: commits on its own; the promise resolves when durable. */
  put(key: Input<K>, value: Input<V>, txn?: undefined, options?: PutOptions<V>): Promise<boolean>;
  /** A transaction or none (helpers that work both ways): the result, or a promise of it. */
  put(key: Input<K>, value: Input<V>, txn: Transaction | undefined, options?: PutOptions<V>): boolean | Promise<boolean>;
  put(key: Input<K>, value: Input<V>, txn?: Transaction, options?: PutOptions<V>): boolean | Promise<boolean> {
    if (txn === undefined) {
      return rejecting(() => {
        this.check();
        const k = this.keyIn(key);
        const v = this.valueIn(value);
        const expected = this.expectedOf(options);
        return this.host.autoCommit((t) => this.putBytes(k, v, t, options?.noOverwrite === true, expected));
      });
    }
    this.check(txn);
    return this.putBytes(this.keyIn(key), this.valueIn(value), txn, options?.noOverwrite === true, this.expectedOf(options));
  }

  /** The stored bytes `ifValue` asks for, checked against the other options. */
  private expectedOf(options: PutOptions<V> | undefined): Buffer | undefined {
    if (options?.ifValue === undefined) return undefined;
    if (options.noOverwrite === true) throw invalid('put takes noOverwrite or ifValue, not both');
    if (this.duplicates !== 'none') throw invalid(`ifValue needs a database without duplicates; ${this.label} has ${this.duplicates} duplicates`);
    return this.valueIn(options.ifValue);
  }

  private putBytes(k: Buffer, v: Buffer, txn: Transaction, noOverwrite: boolean, expected: Buffer | undefined): boolean {
    const tree = this.tree;
    const file = this.file;
    let result = false;
    // One closure per put (kept for the replay at commit); no second one for inFile.
    txn.apply((t) => {
      try {
        // A conditional put decides on what it read: the file counts as read, so a concurrent
        // commit makes this transaction CONFLICT instead of replaying it to another outcome.
        if (noOverwrite || expected !== undefined) t.readFiles.add(file);
        if (expected !== undefined) {
          const w = t.writer(file);
          const now = tree.get(w, k);
          result = now !== undefined && now.equals(expected) && tree.putChecked(w, k, v, false);
        } else result = tree.putChecked(t.writer(file), k, v, noOverwrite);
      } catch (e) {
        throw locateCorruption(e, file);
      }
    });
    return result;
  }

  /**
   * Removes a key (all its duplicates), or one pair when `value` is given. Returns how many pairs
   * went (without a transaction: a promise of it, committed on its own).
   */
  del(key: Input<K>, txn: Transaction, value?: Input<V>): number;
  /** Without a transaction: commits on its own; the promise resolves when durable. */
  del(key: Input<K>, txn?: undefined, value?: Input<V>): Promise<number>;
  /** A transaction or none: the count, or a promise of it. */
  del(key: Input<K>, txn: Transaction | undefined, value?: Input<V>): number | Promise<number>;
  del(key: Input<K>, txn?: Transaction, value?: Input<V>): number | Promise<number> {
    if (txn === undefined) {
      return rejecting(() => {
        this.check();
        const k = this.keyIn(key);
        const v = value === undefined ? undefined : this.valueIn(value);
        return this.host.autoCommit((t) => this.delBytes(k, t, v));
      });
    }
    this.check(txn);
    return this.delBytes(this.keyIn(key), txn, value === undefined ? undefined : this.valueIn(value));
  }

  private delBytes(k: Buffer, txn: Transaction, v: Buffer | undefined): number {
    let n = 0;
    txn.apply((t) => {
      n = inFile(this.file, () => this.tree.del(t.writer(this.file), k, v));
    });
    return n;
  }

  /**
   * Removes every pair whose key is within the bounds (`limit` and `reverse` do not apply), in
   * one transaction; returns how many pairs went (without a transaction: a promise of it,
   * committed on its own). The log holds the changed pages, not one record per key. The
   * transaction counts the file as read (the count is of what it saw), so a concurrent commit
   * to the file makes it CONFLICT.
   */
  clear(range: RangeOptions<K>, txn: Transaction): number;
  /** Without a transaction: commits on its own; the promise resolves when durable. */
  clear(range: RangeOptions<K>, txn?: undefined): Promise<number>;
  /** A transaction or none: the count, or a promise of it. */
  clear(range: RangeOptions<K>, txn: Transaction | undefined): number | Promise<number>;
  clear(range: RangeOptions<K>, txn?: Transaction): number | Promise<number> {
    if (txn === undefined) {
      return rejecting(() => {
        this.check();
        const b = this.bounds(range);
        return this.host.autoCommit((t) => this.clearBytes(b, t));
      });
    }
    this.check(txn);
    return this.clearBytes(this.bounds(range), txn);
  }

  private clearBytes(b: Bounds, txn: Transaction): number {
    let n = 0;
    txn.apply((t) => {
      t.readFiles.add(this.file);
      n = inFile(this.file, () => {
        const w = t.writer(this.file);
        const keys: Buffer[] = [];
        let last: Buffer | undefined;
        this.tree.scan(w, { ...scanOf(b), keysOnly: true }, (k) => {
          if (last === undefined || !last.equals(k)) keys.push((last = Buffer.from(k)));
        });
        let gone = 0;
        for (const k of keys) gone += this.tree.del(w, k);
        return gone;
      });
    });
    return n;
  }

  /** Removes every pair (transactional); returns how many there were (without a transaction: a promise of it). */
  truncate(txn: Transaction): number;
  /** Without a transaction: commits on its own; the promise resolves when durable. */
  truncate(txn?: undefined): Promise<number>;
  /** A transaction or none: the count, or a promise of it. */
  truncate(txn: Transaction | undefined): number | Promise<number>;
  truncate(txn?: Transaction): number | Promise<number> {
    if (txn === undefined) {
      return rejecting(() => {
        this.check();
        return this.host.autoCommit((t) => this.truncate(t));
      });
    }
    this.check(txn);
    let n = 0;
    txn.apply((t) => {
      n = inFile(this.file, () => this.tree.truncate(t.writer(this.file)));
    });
    return n;
  }

  /**
   * Number of pairs within the bounds (all of them without a range; `limit` caps the count),
   * counted from the leaves without reading values. `count(txn)` counts all in a transaction.
   */
  count(range?: RangeOptions<K> | Transaction, txn?: Transaction): number {
    if (range instanceof Transaction) [range, txn] = [undefined, range];
    this.check(txn);
    const opts = range ?? {};
    const b = this.bounds(opts);
    const limit = opts.limit ?? Infinity;
    if (!(limit >= 0)) throw invalid('count limit must be a number ≥ 0');
    const whole = b.lo === undefined && b.hi === undefined && limit === Infinity;
    const n = (r: PageReader): number => (whole ? this.tree.count(r) : limit === 0 ? 0 : this.tree.scan(r, { ...scanOf(b), keysOnly: true, ...(limit === Infinity ? {} : { limit }) }, () => {}));
    if (txn !== undefined) return inFile(this.file, () => n(txn.reader(this.file)));
    return this.withSnapshot(n);
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

  /** The bounds of range options in stored bytes (prefix folded in). */
  private bounds(options: RangeOptions<K>): Bounds {
    const { gt, gte, lt, lte } = options;
    let lo = gte !== undefined ? this.keyIn(gte) : gt !== undefined ? this.keyIn(gt) : undefined;
    let loOpen = gte === undefined && gt !== undefined;
    let hi = lte !== undefined ? this.keyIn(lte) : lt !== undefined ? this.keyIn(lt) : undefined;
    let hiOpen = lte === undefined && lt !== undefined;
    if (options.prefix !== undefined) {
      const p = isOrdered(this.kenc as Encoding<unknown> | undefined) ? keyOf(encodeOrderedPrefix(options.prefix as OrderedKey)) : this.keyIn(options.prefix);
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
    return { lo, loOpen, hi, hiOpen };
  }

  /**
   * Pairs in key order (memcmp of the stored keys; duplicates in their order) within the
   * bounds. Without a transaction the iterator reads one snapshot, taken at its first step,
   * until it finishes or is left with break/return: changes committed meanwhile, even across
   * awaits, are not seen. An iterator dropped unfinished releases its snapshot once garbage
   * collected. Each step checks the environment (CLOSED after env.close()) and the snapshot
   * (SNAPSHOT_TOO_OLD). The iterator also works with `for await`.
   */
  range(options: RangeOptions<K> = {}, txn?: Transaction): Generator<[K, V], void, undefined> {
    const it = this.stored(options, txn);
    if (this.kenc === undefined && this.venc === undefined) return it as unknown as Generator<[K, V], void, undefined>;
    return this.decoded(it);
  }

  /** Stored pairs within the bounds; without a transaction its snapshot is released when the iterator is (forgotten.ts). */
  private stored(options: RangeOptions<K>, txn: Transaction | undefined): Generator<[Buffer, Buffer], void, undefined> {
    const hold = newHold(this.host.pager);
    const it = this.rangeOf(options, txn, hold);
    if (txn === undefined) watch(it, hold);
    return it;
  }

  private *decoded(it: Generator<[Buffer, Buffer], void, undefined>): Generator<[K, V], void, undefined> {
    for (const [k, v] of it) yield [this.keyOut(k), this.valueOut(v)];
  }

  private *rangeOf(options: RangeOptions<K>, txn: Transaction | undefined, hold: Hold): Generator<[Buffer, Buffer], void, undefined> {
    this.check(txn);
    const limit = options.limit ?? Infinity;
    if (!(limit >= 0)) throw invalid('range limit must be a number ≥ 0');
    const { lo, loOpen, hi, hiOpen } = this.bounds(options);
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

  /** Keys only, same options and snapshot rules as range(). */
  *keys(options: RangeOptions<K> = {}, txn?: Transaction): Generator<K, void, undefined> {
    for (const [k] of this.stored(options, txn)) yield this.keyOut(k);
  }

  /** Values only, same options and snapshot rules as range(). */
  *values(options: RangeOptions<K> = {}, txn?: Transaction): Generator<V, void, undefined> {
    for (const [, v] of this.stored(options, txn)) yield this.valueOut(v);
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
