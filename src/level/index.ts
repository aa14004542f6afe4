// cairndb/level: cairn behind the abstract-level interface (docs/LEVEL.md).
//
// `CairnLevel` is an abstract-level database over one cairn database (a B-tree in a data file
// of an environment). abstract-level does the public API (encodings, deferred open, sublevels,
// hooks, events, chained batches); this file implements its private API on the engine:
//
// - every write is one cairn transaction: put, del, and a whole batch (atomic);
// - reads are synchronous on the engine, so `get`/`getMany`/`has` read one consistent state at
//   call time (implicit snapshots), and `getSync` is supported;
// - iterators open a cairn cursor when they are created, which holds a snapshot of the
//   database until the iterator is closed, across any number of awaits;
// - `db.snapshot()` is a read-only cairn transaction (explicit snapshots).
//
// This module is the only part of cairn that loads abstract-level (an optional peer
// dependency): `import 'cairndb'` never reaches it.

import { AbstractIterator, AbstractKeyIterator, AbstractLevel, AbstractSnapshot, AbstractValueIterator } from 'abstract-level';
import type { AbstractDatabaseOptions, AbstractOpenOptions } from 'abstract-level';
import type { DbCursor } from '../env/database.js';
import { CairnError, Database, Environment, type Durability, type EnvironmentOptions, type Transaction } from '../index.js';

/** The formats the private API sees (the manifest's native encodings). */
type Format = 'buffer' | 'view' | 'utf8';
/** Keys and values as the private API receives them: Buffer, Uint8Array or string. */
type Encoded = Uint8Array | string;

const DURABILITIES: readonly Durability[] = ['sync', 'write-nosync', 'nosync'];

/** Default data file of the database inside the environment. */
export const DEFAULT_FILE = 'level.db';

/** Options of `new CairnLevel(location, options)` (and of the environment form). */
export interface CairnLevelOptions<K = string, V = string> extends AbstractDatabaseOptions<K, V> {
  /** Data file of the database inside the environment (default `level.db`). */
  file?: string;
  /** A named database inside that file (default: the file's unnamed database). */
  name?: string;
  /**
   * Commit durability of writes without `{ sync: true }`. For an environment this adapter
   * opens, it is the environment's default and defaults to `'write-nosync'` (like
   * classic-level: a write survives the process being killed, not a power loss). For an
   * environment passed in, undefined means that environment's default.
   */
  durability?: Durability;
  /**
   * Options for the environment this adapter opens at `location` (cache, page and log sizes,
   * checkpoints, automatic log removal...). `create` follows `createIfMissing`.
   */
  environment?: Omit<EnvironmentOptions, 'create' | 'durability' | 'readOnly' | 'recover'>;
}

/** The environment form: a database inside an environment the caller opened and keeps. */
export interface CairnLevelEnvOptions<K = string, V = string> extends CairnLevelOptions<K, V> {
  /** The open environment to keep the database in (the caller closes it). */
  env: Environment;
}

/** Options of put, del and batch, as the private API receives them. */
interface WriteOptions {
  /** Wait for the commit to be on disk (fdatasync) whatever the default durability. */
  sync?: boolean;
  /** This write's durability (overrides `sync` and the default). */
  durability?: Durability;
}

interface ReadOptions {
  keyEncoding?: Format;
  valueEncoding?: Format;
  snapshot?: CairnSnapshot;
}

interface RangeOpts extends ReadOptions {
  gt?: Encoded;
  gte?: Encoded;
  lt?: Encoded;
  lte?: Encoded;
  reverse: boolean;
  /** -1: no limit (abstract-level's normalized form). */
  limit: number;
  keys?: boolean;
  values?: boolean;
}

interface BatchOp {
  type: 'put' | 'del';
  key: Encoded;
  value?: Encoded;
}

/** An error with an abstract-level code (`LEVEL_*`), keeping the engine error as its cause. */
export class CairnLevelError extends Error {
  /** abstract-level's code, e.g. `LEVEL_NOT_FOUND`, `LEVEL_LOCKED`. */
  readonly code: string;
  /** @internal */
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CairnLevelError';
    this.code = code;
  }
}

const LEVEL_CODES: Partial<Record<string, string>> = {
  LOCKED: 'LEVEL_LOCKED',
  CORRUPT: 'LEVEL_CORRUPTION',
  IO: 'LEVEL_IO_ERROR',
  RUN_RECOVERY: 'LEVEL_IO_ERROR',
  READ_ONLY: 'LEVEL_READONLY',
};

/** Engine errors get the matching abstract-level code (the CairnError stays as the cause). */
function levelError(e: unknown): unknown {
  if (e instanceof CairnError) {
    const code = LEVEL_CODES[e.code];
    if (code !== undefined) return new CairnLevelError(e.message, code, { cause: e });
  }
  return e;
}

function toBuffer(b: Encoded): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (Buffer.isBuffer(b)) return b;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A Buffer from the engine in the format the private API asked for. */
function out(b: Buffer, format: Format | undefined): Encoded {
  if (format === 'utf8') return b.toString('utf8');
  if (format === 'view') return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return b;
}

function has(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

// abstract-level's typings declare no constructor options for AbstractSnapshot; it takes
// `{ owner }` (the database that closes it on db.close()).
const SnapshotBase = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot;

/**
 * An explicit snapshot: a read-only cairn transaction. Iterators created from it keep it
 * alive (a reference each) so that closing the snapshot while one is still open does not
 * pull the state from under it; the transaction ends when the last user lets go.
 */
class CairnSnapshot extends SnapshotBase {
  readonly txn: Transaction;
  private users = 1;

  constructor(options: object, txn: Transaction) {
    super(options);
    this.txn = txn;
  }

  /** @internal An iterator starts using the transaction. */
  acquire(): void {
    this.users++;
  }

  /** @internal */
  release(): void {
    if (--this.users === 0) this.txn.abort();
  }

  async _close(): Promise<void> {
    this.release();
  }
}

/**
 * The range walk shared by the entry, key and value iterators and by clear(): a cairn cursor
 * (a snapshot taken when it is created), the range bounds, reverse, and seek. The item that
 * the next step returns is read ahead (`pending`).
 */
class RangeWalk {
  private readonly cursor: DbCursor | undefined;
  private readonly reverse: boolean;
  /** First bound in walking order (gte/gt forward, lte/lt reverse) and whether it is inclusive. */
  private readonly start: Buffer | undefined;
  private readonly startIncl: boolean;
  /** Last bound in walking order. */
  private readonly end: Buffer | undefined;
  private readonly endIncl: boolean;
  private positioned = false;
  private pending: [Buffer, Buffer] | undefined;
  private readonly snapshot: CairnSnapshot | undefined;
  private closed = false;
  private get c(): DbCursor {
    if (this.cursor === undefined) throw new CairnLevelError('Snapshot is not open: cannot use snapshot after close()', 'LEVEL_SNAPSHOT_NOT_OPEN');
    return this.cursor;
  }

  constructor(db: Database, options: RangeOpts) {
    this.reverse = options.reverse;
    const lo = has(options, 'gte') ? { k: options.gte!, incl: true } : has(options, 'gt') ? { k: options.gt!, incl: false } : undefined;
    const hi = has(options, 'lte') ? { k: options.lte!, incl: true } : has(options, 'lt') ? { k: options.lt!, incl: false } : undefined;
    const [first, last] = this.reverse ? [hi, lo] : [lo, hi];
    this.start = first === undefined ? undefined : toBuffer(first.k);
    this.startIncl = first?.incl ?? true;
    this.end = last === undefined ? undefined : toBuffer(last.k);
    this.endIncl = last?.incl ?? true;
    const snapshot = options.snapshot;
    if (snapshot !== undefined && !snapshot.txn.active) {
      // Made from a closed snapshot: abstract-level rejects every read of this iterator with
      // LEVEL_SNAPSHOT_NOT_OPEN before reaching us, so it never reads.
      this.cursor = undefined;
      return;
    }
    // The snapshot is taken now, synchronously (implicit snapshots), or is the explicit one.
    this.cursor = db.cursor(snapshot?.txn);
    this.snapshot = snapshot;
    snapshot?.acquire();
  }

  /** Compares in walking order: < 0 when a comes before b. */
  private cmp(a: Buffer, b: Buffer): number {
    const c = Buffer.compare(a, b);
    return this.reverse ? -c : c;
  }

  private beforeEnd(k: Buffer): boolean {
    if (this.end === undefined) return true;
    const c = this.cmp(k, this.end);
    return c < 0 || (c === 0 && this.endIncl);
  }

  private afterStart(k: Buffer): boolean {
    if (this.start === undefined) return true;
    const c = this.cmp(k, this.start);
    return c > 0 || (c === 0 && this.startIncl);
  }

  /** The first entry at or after k in walking order. */
  private seekCursor(k: Buffer): [Buffer, Buffer] | undefined {
    return this.reverse ? this.c.seekLast(k) : this.c.seek(k);
  }

  private step(): [Buffer, Buffer] | undefined {
    return this.reverse ? this.c.prev() : this.c.next();
  }

  private position(): void {
    this.positioned = true;
    if (this.start === undefined) {
      this.pending = this.reverse ? this.c.last() : this.c.first();
      return;
    }
    let e = this.seekCursor(this.start);
    if (!this.startIncl) while (e !== undefined && e[0].equals(this.start)) e = this.step();
    this.pending = e;
  }

  /** The next entry in range, or undefined at the end. */
  next(): [Buffer, Buffer] | undefined {
    if (!this.positioned) this.position();
    const e = this.pending;
    if (e === undefined) return undefined;
    if (!this.beforeEnd(e[0])) {
      this.pending = undefined;
      return undefined;
    }
    this.pending = this.step();
    return e;
  }

  /** Moves to the first entry at or after target (walking order); out of range: the end. */
  seek(target: Encoded): void {
    const t = toBuffer(target);
    this.positioned = true;
    this.pending = this.beforeEnd(t) && this.afterStart(t) ? this.seekCursor(t) : undefined;
  }

  /** Releases the cursor's snapshot (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.cursor?.close();
    } finally {
      this.snapshot?.release();
    }
  }
}

/** Reads up to `size` items from a walk. */
function take<T>(walk: RangeWalk, size: number, map: (e: [Buffer, Buffer]) => T): T[] {
  const items: T[] = [];
  while (items.length < size) {
    const e = walk.next();
    if (e === undefined) break;
    items.push(map(e));
  }
  return items;
}

function remaining(it: { limit: number; count: number }): number {
  return it.limit === Infinity ? Infinity : it.limit - it.count;
}

/** Runs an engine call, giving its errors abstract-level codes. */
function engine<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw levelError(e);
  }
}

class CairnIterator<K, V> extends AbstractIterator<CairnLevel<K, V>, K, V> {
  private readonly walk: RangeWalk;
  private readonly map: (e: [Buffer, Buffer]) => [Encoded | undefined, Encoded | undefined];

  constructor(db: CairnLevel<K, V>, database: Database, options: RangeOpts) {
    super(db, options as never);
    this.walk = new RangeWalk(database, options);
    const kf = options.keyEncoding;
    const vf = options.valueEncoding;
    const keys = options.keys !== false;
    const values = options.values !== false;
    this.map = (e) => [keys ? out(e[0], kf) : undefined, values ? out(e[1], vf) : undefined];
  }

  async _next(): Promise<[Encoded | undefined, Encoded | undefined] | undefined> {
    const e = engine(() => this.walk.next());
    return e === undefined ? undefined : this.map(e);
  }

  async _nextv(size: number): Promise<Array<[Encoded | undefined, Encoded | undefined]>> {
    return engine(() => take(this.walk, size, this.map));
  }

  async _all(): Promise<Array<[Encoded | undefined, Encoded | undefined]>> {
    return engine(() => take(this.walk, remaining(this), this.map));
  }

  _seek(target: Encoded): void {
    engine(() => this.walk.seek(target));
  }

  async _close(): Promise<void> {
    this.walk.close();
  }
}

class CairnKeyIterator<K, V> extends AbstractKeyIterator<CairnLevel<K, V>, K> {
  private readonly walk: RangeWalk;
  private readonly map: (e: [Buffer, Buffer]) => Encoded;

  constructor(db: CairnLevel<K, V>, database: Database, options: RangeOpts) {
    super(db, options as never);
    this.walk = new RangeWalk(database, options);
    const kf = options.keyEncoding;
    this.map = (e) => out(e[0], kf);
  }

  async _next(): Promise<Encoded | undefined> {
    const e = engine(() => this.walk.next());
    return e === undefined ? undefined : this.map(e);
  }

  async _nextv(size: number): Promise<Encoded[]> {
    return engine(() => take(this.walk, size, this.map));
  }

  async _all(): Promise<Encoded[]> {
    return engine(() => take(this.walk, remaining(this), this.map));
  }

  _seek(target: Encoded): void {
    engine(() => this.walk.seek(target));
  }

  async _close(): Promise<void> {
    this.walk.close();
  }
}

class CairnValueIterator<K, V> extends AbstractValueIterator<CairnLevel<K, V>, K, V> {
  private readonly walk: RangeWalk;
  private readonly map: (e: [Buffer, Buffer]) => Encoded;

  constructor(db: CairnLevel<K, V>, database: Database, options: RangeOpts) {
    super(db, options as never);
    this.walk = new RangeWalk(database, options);
    const vf = options.valueEncoding;
    this.map = (e) => out(e[1], vf);
  }

  async _next(): Promise<Encoded | undefined> {
    const e = engine(() => this.walk.next());
    return e === undefined ? undefined : this.map(e);
  }

  async _nextv(size: number): Promise<Encoded[]> {
    return engine(() => take(this.walk, size, this.map));
  }

  async _all(): Promise<Encoded[]> {
    return engine(() => take(this.walk, remaining(this), this.map));
  }

  _seek(target: Encoded): void {
    engine(() => this.walk.seek(target));
  }

  async _close(): Promise<void> {
    this.walk.close();
  }
}

/** The encoding API abstract-level databases (and sublevels) expose. */
interface Codec {
  encode(data: unknown): Encoded;
  decode(data: Encoded): unknown;
  format: Format;
}
interface LevelLike {
  keyEncoding(encoding?: unknown): Codec;
  valueEncoding(encoding?: unknown): Codec;
  prefixKey(key: Encoded, format: Format, local?: boolean): Encoded;
  readonly db?: unknown;
}

/** Options of the operations of a CairnLevelTransaction. */
export interface TransactionOpOptions {
  /** The key encoding for this call (default: the database's). */
  keyEncoding?: unknown;
  /** The value encoding for this call (default: the database's). */
  valueEncoding?: unknown;
  /** A sublevel (at any depth) of the CairnLevel that made the transaction: its encodings and key prefix apply. */
  sublevel?: object;
}

/**
 * Reads and writes of one cairn transaction, with the database's encodings and sublevels.
 * Reads are synchronous: they see the state when the transaction began plus its own writes.
 * Writes become visible to others, all together, when the transaction commits. Hooks and
 * `write` events do not run for them (they are not abstract-level operations).
 */
export class CairnLevelTransaction<K = string, V = string> {
  /** The cairn transaction, for the engine API (`database.put(k, v, txn)` and so on). */
  readonly txn: Transaction;
  private readonly level: CairnLevel<K, V>;
  private readonly database: Database;

  /** @internal */
  constructor(level: CairnLevel<K, V>, database: Database, txn: Transaction) {
    this.level = level;
    this.database = database;
    this.txn = txn;
  }

  private target(options: TransactionOpOptions | undefined): LevelLike {
    const sub = options?.sublevel;
    if (sub === undefined || sub === this.level) return this.level as unknown as LevelLike;
    if ((sub as LevelLike).db !== this.level) throw new TypeError('sublevel must be a sublevel of the database that began the transaction');
    return sub as LevelLike;
  }

  private key(key: unknown, options: TransactionOpOptions | undefined): Encoded {
    if (key === null || key === undefined) throw new CairnLevelError('Key cannot be null or undefined', 'LEVEL_INVALID_KEY');
    const db = this.target(options);
    const enc = db.keyEncoding(options?.keyEncoding);
    return db.prefixKey(enc.encode(key), enc.format, false);
  }

  /** The value of a key as this transaction sees it (its own writes included), or undefined. */
  get<T = V>(key: K | unknown, options?: TransactionOpOptions): T | undefined {
    const k = this.key(key, options);
    const v = engine(() => this.database.get(k, this.txn));
    if (v === undefined) return undefined;
    const enc = this.target(options).valueEncoding(options?.valueEncoding);
    try {
      return enc.decode(out(v, enc.format)) as T;
    } catch (e) {
      throw new CairnLevelError('Could not decode value', 'LEVEL_DECODE_ERROR', { cause: e });
    }
  }

  /** Whether the key is present, as this transaction sees it. */
  has(key: K | unknown, options?: TransactionOpOptions): boolean {
    const k = this.key(key, options);
    return engine(() => this.database.has(k, this.txn));
  }

  /** Stores a pair in this transaction (applied when it commits). */
  put(key: K | unknown, value: V | unknown, options?: TransactionOpOptions): void {
    if (value === null || value === undefined) throw new CairnLevelError('Value cannot be null or undefined', 'LEVEL_INVALID_VALUE');
    const k = this.key(key, options);
    const v = this.target(options).valueEncoding(options?.valueEncoding).encode(value);
    engine(() => this.database.put(k, v, this.txn));
  }

  /** Removes a key in this transaction. */
  del(key: K | unknown, options?: TransactionOpOptions): void {
    const k = this.key(key, options);
    engine(() => this.database.del(k, this.txn));
  }
}

/** What CairnLevel supports (level-supports manifest). */
const MANIFEST = {
  seek: true,
  implicitSnapshots: true,
  explicitSnapshots: true,
  permanence: true,
  createIfMissing: true,
  errorIfExists: true,
  has: true,
  getSync: true,
  encodings: { buffer: true, view: true, utf8: true },
  // Reads are synchronous on the engine: a read in flight cannot be aborted (a signal aborted
  // before a read starts is still honoured by abstract-level).
  signals: { iterators: false },
  // Sublevels drop additional methods (abstract-level cannot prefix their keys).
  additionalMethods: { transaction: true },
};

/** Keys deleted per transaction by a ranged clear(). */
const CLEAR_CHUNK = 10_000;

/**
 * An abstract-level database stored in cairn.
 *
 * ```ts
 * const db = new CairnLevel('./db', { valueEncoding: 'json' });          // its own environment
 * const db2 = new CairnLevel({ env, file: 'app.db', name: 'users' });    // inside an open one
 * ```
 */
export class CairnLevel<K = string, V = string> extends AbstractLevel<Buffer | Uint8Array | string, K, V> {
  /** The environment's directory (undefined in the environment form). */
  readonly location: string | undefined;
  /** The data file holding the database. */
  readonly file: string;
  /** The database's name in that file (undefined: the file's unnamed database). */
  readonly dbName: string | undefined;
  private readonly sharedEnv: Environment | undefined;
  private readonly envOptions: CairnLevelOptions['environment'];
  /** Durability passed to each commit (undefined: the environment's default). */
  private readonly commitDurability: Durability | undefined;
  /** Default durability of an environment this adapter opens. */
  private readonly ownDurability: Durability;
  private environment: Environment | undefined;
  private cairnDb: Database | undefined;

  /** A database in its own environment at `location` (opened with the database). */
  constructor(location: string, options?: CairnLevelOptions<K, V>);
  /** A database inside an environment the caller opened (`options.env`) and keeps. */
  constructor(options: CairnLevelEnvOptions<K, V>);
  constructor(location: string | CairnLevelEnvOptions<K, V>, options?: CairnLevelOptions<K, V>) {
    let opts: CairnLevelOptions<K, V> & { env?: Environment };
    let dir: string | undefined;
    if (typeof location === 'string') {
      if (location === '') throw new TypeError("The first argument 'location' must be a non-empty string");
      dir = location;
      opts = options ?? {};
    } else if (typeof location === 'object' && location !== null && location.env instanceof Environment) {
      opts = { ...location, ...options };
    } else {
      throw new TypeError("The first argument must be a directory (string) or { env: Environment, file?, name? }");
    }
    const { env, file, name, durability, environment, ...forward } = opts;
    if (durability !== undefined && !DURABILITIES.includes(durability)) {
      throw new TypeError(`durability must be one of ${DURABILITIES.join(', ')}, got ${String(durability)}`);
    }
    super(MANIFEST, forward);
    this.location = dir;
    this.file = file ?? DEFAULT_FILE;
    this.dbName = name;
    this.sharedEnv = env;
    this.envOptions = environment;
    this.ownDurability = durability ?? 'write-nosync';
    this.commitDurability = env !== undefined ? durability : undefined;
  }

  /** The cairn environment (open): transactions, checkpoints, hot backup, stat. */
  get env(): Environment {
    if (this.environment === undefined) throw new CairnLevelError('Database is not open', 'LEVEL_DATABASE_NOT_OPEN');
    return this.environment;
  }

  /** The cairn database handle (open), for use with `env` transactions. Keys are stored as encoded bytes. */
  get database(): Database {
    if (this.cairnDb === undefined) throw new CairnLevelError('Database is not open', 'LEVEL_DATABASE_NOT_OPEN');
    return this.cairnDb;
  }

  private get label(): string {
    const where = this.location ?? this.sharedEnv!.home;
    return `${where}/${this.file}${this.dbName !== undefined ? `:${this.dbName}` : ''}`;
  }

  // ---- open / close ------------------------------------------------------------------------

  /** @internal abstract-level's hook. */
  async _open(options: AbstractOpenOptions): Promise<void> {
    const createIfMissing = options.createIfMissing !== false;
    const errorIfExists = options.errorIfExists === true;
    let env = this.sharedEnv;
    const own = env === undefined;
    if (env === undefined) {
      try {
        env = await Environment.open(this.location!, { ...this.envOptions, create: createIfMissing, durability: this.ownDurability });
      } catch (e) {
        if (e instanceof CairnError && e.code === 'NOT_FOUND') {
          throw new CairnLevelError(`Database ${this.location} does not exist (createIfMissing is false): ${e.message}`, 'LEVEL_DATABASE_NOT_OPEN', { cause: e });
        }
        throw levelError(e);
      }
    }
    try {
      let exists: boolean;
      try {
        exists = env.listDatabases(this.file).includes(this.dbName ?? '');
      } catch (e) {
        if (!(e instanceof CairnError && e.code === 'NOT_FOUND')) throw e;
        exists = false;
      }
      if (exists && errorIfExists) throw new CairnLevelError(`Database ${this.label} already exists (errorIfExists is true)`, 'LEVEL_DATABASE_NOT_OPEN');
      if (!exists && !createIfMissing) throw new CairnLevelError(`Database ${this.label} does not exist (createIfMissing is false)`, 'LEVEL_DATABASE_NOT_OPEN');
      this.cairnDb = await env.openDatabase(this.file, { name: this.dbName, create: true });
      this.environment = env;
    } catch (e) {
      if (own) await env.close().catch(() => undefined);
      throw levelError(e);
    }
  }

  /** @internal abstract-level's hook. */
  async _close(): Promise<void> {
    const env = this.environment;
    this.cairnDb = undefined;
    this.environment = undefined;
    // abstract-level has closed this database's iterators and snapshots before calling us.
    if (env !== undefined && this.sharedEnv === undefined) await env.close();
  }

  // ---- reads -------------------------------------------------------------------------------

  /** @internal abstract-level's hook. */
  async _get(key: Encoded, options: ReadOptions): Promise<Encoded | undefined> {
    return this._getSync(key, options);
  }

  /** @internal abstract-level's hook. */
  _getSync(key: Encoded, options: ReadOptions): Encoded | undefined {
    const v = engine(() => this.cairnDb!.get(key, options.snapshot?.txn));
    return v === undefined ? undefined : out(v, options.valueEncoding);
  }

  /** @internal abstract-level's hook. */
  async _getMany(keys: Encoded[], options: ReadOptions): Promise<Array<Encoded | undefined>> {
    const db = this.cairnDb!;
    const txn = options.snapshot?.txn;
    const vf = options.valueEncoding;
    return engine(() =>
      keys.map((k) => {
        const v = db.get(k, txn);
        return v === undefined ? undefined : out(v, vf);
      }),
    );
  }

  /** @internal abstract-level's hook. */
  async _has(key: Encoded, options: ReadOptions): Promise<boolean> {
    return engine(() => this.cairnDb!.has(key, options.snapshot?.txn));
  }

  /** @internal abstract-level's hook. */
  async _hasMany(keys: Encoded[], options: ReadOptions): Promise<boolean[]> {
    const db = this.cairnDb!;
    const txn = options.snapshot?.txn;
    return engine(() => keys.map((k) => db.has(k, txn)));
  }

  /** @internal abstract-level's hook. */
  _iterator(options: RangeOpts): CairnIterator<K, V> {
    return engine(() => new CairnIterator(this, this.cairnDb!, options));
  }

  /** @internal abstract-level's hook. */
  _keys(options: RangeOpts): CairnKeyIterator<K, V> {
    return engine(() => new CairnKeyIterator(this, this.cairnDb!, options));
  }

  /** @internal abstract-level's hook. */
  _values(options: RangeOpts): CairnValueIterator<K, V> {
    return engine(() => new CairnValueIterator(this, this.cairnDb!, options));
  }

  /** @internal abstract-level's hook. */
  _snapshot(options: object): CairnSnapshot {
    return engine(() => new CairnSnapshot(options, this.environment!.begin({ readOnly: true })));
  }

  // ---- transactions (additional method) ----------------------------------------------------

  /**
   * Runs fn in one cairn transaction and commits it (aborts it if fn throws). Every write in
   * it is applied atomically, also across sublevels. Reads see a snapshot plus the
   * transaction's own writes; when a concurrent commit changed data fn read, fn runs again on
   * the newer state (up to 100 times, as `env.transaction` does), so a read-modify-write never
   * loses a concurrent update, async or not — keep fn free of outside side effects. When fn is
   * synchronous (returns no promise) the commit is installed in the same tick as its reads and
   * never needs a rerun.
   */
  async transaction<T>(fn: (tx: CairnLevelTransaction<K, V>) => T | Promise<T>, options?: WriteOptions): Promise<T> {
    if (this.status === 'opening') await this.open({ passive: true });
    const env = this.environment;
    const db = this.cairnDb;
    if (this.status !== 'open' || env === undefined || db === undefined) throw new CairnLevelError('Database is not open', 'LEVEL_DATABASE_NOT_OPEN');
    try {
      return await env.transaction((txn) => fn(new CairnLevelTransaction(this, db, txn)), { durability: this.durabilityOf(options) });
    } catch (e) {
      throw levelError(e);
    }
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Runs fn in one transaction and commits it with the write's durability. */
  private durabilityOf(options: WriteOptions | undefined): Durability | undefined {
    return options?.durability ?? (options?.sync === true ? 'sync' : this.commitDurability);
  }

  /** Runs fn in one transaction and commits it (in the same tick) with the write's durability. */
  private async write(options: WriteOptions | undefined, fn: (db: Database, txn: Transaction) => void): Promise<void> {
    const env = this.environment!;
    const db = this.cairnDb!;
    try {
      const txn = env.begin({ durability: this.durabilityOf(options) });
      try {
        fn(db, txn);
      } catch (e) {
        txn.abort();
        throw e;
      }
      await txn.commit();
    } catch (e) {
      throw levelError(e);
    }
  }

  /** @internal abstract-level's hook. */
  async _put(key: Encoded, value: Encoded, options: WriteOptions): Promise<void> {
    await this.write(options, (db, txn) => db.put(key, value, txn));
  }

  /** @internal abstract-level's hook. */
  async _del(key: Encoded, options: WriteOptions): Promise<void> {
    await this.write(options, (db, txn) => db.del(key, txn));
  }

  /** All operations in one cairn transaction: all or nothing, also after a crash. */
  /** @internal abstract-level's hook. */
  async _batch(operations: BatchOp[], options: WriteOptions): Promise<void> {
    await this.write(options, (db, txn) => {
      for (const op of operations) {
        if (op.type === 'put') db.put(op.key, op.value!, txn);
        else db.del(op.key, txn);
      }
    });
  }

  /**
   * Deletes a range. Without range options, limit or snapshot it truncates the database in one
   * transaction. Otherwise the keys are read from one snapshot (the explicit one if given) and
   * deleted in transactions of up to 10,000 keys: each is atomic, a very large clear as a
   * whole is not (as in classic-level).
   */
  /** @internal abstract-level's hook. */
  async _clear(options: RangeOpts & WriteOptions): Promise<void> {
    const ranged = ['gt', 'gte', 'lt', 'lte'].some((k) => has(options, k));
    if (!ranged && options.limit === -1 && options.snapshot === undefined) {
      await this.write(options, (db, txn) => void db.truncate(txn));
      return;
    }
    const walk = engine(() => new RangeWalk(this.cairnDb!, options));
    try {
      let left = options.limit < 0 ? Infinity : options.limit;
      while (left > 0) {
        const keys = engine(() => take(walk, Math.min(CLEAR_CHUNK, left), (e) => e[0]));
        if (keys.length === 0) break;
        left -= keys.length;
        await this.write(options, (db, txn) => {
          for (const k of keys) db.del(k, txn);
        });
      }
    } finally {
      walk.close();
    }
  }
}
