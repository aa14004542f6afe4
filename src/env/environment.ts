// The environment: a home directory with its log, data files, control file and owner lock
// (docs/DESIGN.md §Code map). Opening runs recovery when the last owner did not close cleanly.
//
// This file is the lifecycle (OPEN → PANICKED → CLOSED) and the transactions; the rest is
// delegated: opening (open.ts), recovery (recover.ts), the commit path (txn/commit.ts),
// checkpoints and write-back (checkpointer.ts), data files and databases (catalog.ts), log
// archival (archival.ts), hot backup and db_archive (the backup layer, through backupport.ts).

import * as path from 'node:path';
import { nodeVfs } from '../io/node.js';
import type { Vfs } from '../io/vfs.js';
import type { LogWriter } from '../log/writer.js';
import { type DataFile, Pager } from '../page/pager.js';
import { CommitPipeline } from '../txn/commit.js';
import { DURABILITIES, type Durability, Transaction } from '../txn/txn.js';
import { ActiveTxns } from '../txn/forgotten.js';
import { CairnError, RunRecoveryError, invalid } from '../util/errors.js';
import { type Lsn, lsnFile } from '../util/lsn.js';
import { Archival } from './archival.js';
import { backupFunctions } from './backupport.js';
import { Catalog } from './catalog.js';
import { type Channel, startChannel } from './channel.js';
import { Checkpointer } from './checkpointer.js';
import { type Control, writeControl } from './control.js';
import type { Database } from './database.js';
import { type Dirs, checkedDataFile } from '../recovery/layout.js';
import { type OwnerLock, lockEnvironment } from './lock.js';
import { type OpenContext, type Opening, openControl, openLog, prepareHome } from './open.js';
import { type ArchiveOptions, type EnvironmentOptions, type EnvironmentStat, type HotBackupOptions, type HotBackupReport, type OpenDatabaseOptions, type RecoverOptions, type RecoveryReport, checkOptions, resolveOptions } from './options.js';
import { TxnRunner } from './runner.js';
import { recoverHome } from './recover.js';
import { environmentStat } from './stat.js';

export type { EnvironmentOptions, OpenDatabaseOptions, RecoverOptions, RecoveryReport, EnvironmentStat, HotBackupOptions, HotBackupReport, ArchiveOptions } from './options.js';

/**
 * An environment: a home directory with its log, data files, control file and owner lock, owned
 * by one process at a time (`LOCKED` for a second). Open it with `Environment.open`; open
 * databases in it with `openDatabase`; run transactions with `transaction(fn)` or `begin()`;
 * `close()` when done. (It serves transactions and databases as their TxnHost and DbHost, by
 * shape: the declarations the package publishes keep those internal.)
 */
export class Environment {
  /** The home directory, absolute. */
  readonly home: string;
  /** @internal */
  readonly pager: Pager;
  /** @internal */
  readonly vfs: Vfs;
  /** @internal */
  readonly dirs: Dirs;
  /** The environment's 16-byte id, stamped in every log file, data file and page (I6, I7). */
  readonly envId: Buffer;
  /** The default commit durability (the option, or DB_CONFIG's `set_flags`). */
  readonly durability: Durability;
  /** The page size of data files this environment creates. */
  readonly pageSize: number;
  /** @internal The log writer (undefined: read-only). */
  readonly writer: LogWriter | undefined;
  /** Opened with `{ readOnly: true }`: reads only; writes throw `READ_ONLY`. */
  readonly readOnly: boolean;
  private lock: OwnerLock;
  /** @internal The control file as last written. */
  control: Control;
  /** @internal Checkpoints remove the log files recovery no longer needs (autoRemoveLogs). */
  readonly autoRemove: boolean;
  /** @internal */
  readonly active = new ActiveTxns<Transaction>();
  /** env.transaction() callbacks running synchronously right now (a nested call is refused). */
  /** stat().txn.oldSnapshots lists snapshots keeping more than this many bytes of older page versions. */
  /** @internal */
  snapshotWarnBytes = Infinity;
  private inflight = new Set<Promise<unknown>>();
  /** @internal */
  panicError: Error | undefined;
  /** @internal */
  closed = false;
  /** @internal */
  readonly counters = { begun: 0, commits: 0, aborts: 0 };
  private channel: Channel | undefined;
  /** @internal env.transaction and auto-commits (runner.ts). */
  private readonly runner: TxnRunner;
  /** @internal The commit path. */
  readonly pipeline: CommitPipeline;
  /** @internal Checkpoints and write-back. */
  readonly checkpointer: Checkpointer;
  /** @internal Data files and databases. */
  readonly catalog: Catalog;
  /** @internal Log archival and pins (I5). */
  readonly archival: Archival;

  private constructor(args: {
    home: string;
    vfs: Vfs;
    dirs: Dirs;
    envId: Buffer;
    durability: Durability;
    pageSize: number;
    pager: Pager;
    log: LogWriter | undefined;
    lock: OwnerLock;
    control: Control;
    autoRemove: boolean;
    ckptKbytes: number;
    ckptMinutes: number;
  }) {
    this.home = args.home;
    this.vfs = args.vfs;
    this.dirs = args.dirs;
    this.envId = args.envId;
    this.durability = args.durability;
    this.pageSize = args.pageSize;
    this.pager = args.pager;
    this.writer = args.log;
    this.readOnly = args.log === undefined;
    const log = args.log;
    if (log !== undefined) this.pager.durableLsn = () => log.durableLsn;
    this.lock = args.lock;
    this.control = args.control;
    this.autoRemove = args.autoRemove;
    this.pipeline = new CommitPipeline(this, args.control.nextTxn);
    this.runner = new TxnRunner(this);
    this.catalog = new Catalog(this);
    this.archival = new Archival(this);
    this.checkpointer = new Checkpointer(this, { kbytes: args.ckptKbytes, minutes: args.ckptMinutes, lastCkpt: args.control.checkpoint, logBytes: this.writer?.stats.bytes ?? 0 });
  }

  /** @internal The log writer; throws READ_ONLY in a read-only environment. */
  get log(): LogWriter {
    if (this.writer === undefined) throw new CairnError('READ_ONLY', `environment ${this.home} was opened read-only`);
    return this.writer;
  }

  // ---- opening -----------------------------------------------------------------------------

  /**
   * Opens the environment in `home` (made with `{ create: true }`), running recovery first when
   * it was not closed cleanly. Throws `LOCKED` when another process or handle owns it,
   * `NOT_FOUND` when there is none and `create` is not set, `RUN_RECOVERY` when it needs
   * `db_recover`, `CORRUPT` for damage and `CONFIG` for bad options or DB_CONFIG lines.
   */
  static async open(home: string, options: EnvironmentOptions = {}): Promise<Environment> {
    const vfs = options.vfs ?? nodeVfs;
    home = path.resolve(home);
    checkOptions(options);
    const { cfg, dirs } = prepareHome(vfs, home, options);
    const o = resolveOptions(options, cfg);
    const lock = lockEnvironment(vfs, dirs, { readOnly: options.readOnly, mode: options.mode });
    const opened: Opening = {};
    try {
      const pager = new Pager(vfs, { cacheSize: o.cacheSize, historyLimit: o.historyLimit });
      const c: OpenContext = { vfs, home, dirs, cfg, options, lock, pager, logOpts: { envId: Buffer.alloc(16), fileSize: o.logFileSize, bufferSize: o.logBufferSize }, logFileSize: o.logFileSize };
      let control = openControl(c, opened);
      const envId = Buffer.from(control.envId, 'hex');
      const args = { home, vfs, dirs, envId, durability: o.durability, pageSize: o.pageSize, pager, lock };
      if (options.readOnly) {
        return new Environment({ ...args, log: undefined, control, autoRemove: false, ckptKbytes: 0, ckptMinutes: 0 });
      }
      control = openLog(c, control, opened);
      const env = new Environment({ ...args, log: opened.log, control, autoRemove: o.autoRemove, ckptKbytes: o.ckpt.kbytes, ckptMinutes: o.ckpt.minutes });
      env.snapshotWarnBytes = o.snapshotWarnBytes;
      await env.start(options);
      return env;
    } catch (e) {
      opened.log?.close();
      lock.release();
      throw e;
    }
  }

  /** The last steps of a read-write open: hooks wired, db_load leftovers removed, the channel up. */
  private async start(options: EnvironmentOptions): Promise<void> {
    this.wire();
    await this.catalog.removeLoadTemps();
    // The channel is a real socket in the home: only for environments on the real file system.
    if (this.vfs === nodeVfs) {
      this.channel = startChannel(this, { idleMs: options.channelIdleMs });
      // Bound and made private (0600) before anyone can use the environment.
      await this.channel.ready();
    }
  }

  private wire(): void {
    // The log panics the environment when a write or fsync fails (I8).
    if (this.writer) this.writer.onPanic = (e) => this.panic(e);
    // A flush may block this thread (flushNow: write + fdatasync, no event-loop turn) only when
    // no write transaction is open (W2's lone writer): nothing could join its group. With others
    // open their commits must be able to run meanwhile (group commit), and during a hot backup
    // the backup must (it copies between the writer's commits).
    if (this.writer) {
      this.writer.mayBlock = () => {
        if (this.backupsRunning > 0) return false;
        for (const t of this.active) if (!t.readOnly) return false;
        return true;
      };
    }
    this.pager.onPressure = () => this.checkpointer.backgroundWriteBack();
  }

  /**
   * Runs recovery without opening the environment for use: normal (from the last checkpoint)
   * or catastrophic (every log file, for backups and failover copies), optionally to a time.
   */
  static async recover(home: string, options: RecoverOptions = {}): Promise<RecoveryReport> {
    return recoverHome(home, options);
  }

  // ---- state -------------------------------------------------------------------------------

  /** @internal Throws when the environment is closed or panicked. */
  checkUsable(): void {
    if (this.panicError !== undefined) {
      throw new RunRecoveryError(`the environment panicked (${this.panicError.message}); close it and open it again to run recovery`, { cause: this.panicError });
    }
    if (this.closed) throw new CairnError('CLOSED', `environment ${this.home} is closed`);
  }

  /** @internal */
  checkTxn(txn: Transaction): void {
    if (txn instanceof Transaction && txn.state === 'active' && !this.active.has(txn)) {
      throw invalid(`the transaction belongs to another environment, not ${this.home}; use a transaction begun on the environment the database was opened in`);
    }
    if (!(txn instanceof Transaction) || !this.active.has(txn)) {
      throw new CairnError('TXN_STATE', txn instanceof Transaction ? `the transaction is ${txn.state}` : 'not a transaction of this environment');
    }
    txn.checkActive();
  }

  /** @internal Enters the panic state (I8): every later call throws RunRecoveryError until reopened. */
  panic(e: Error): void {
    if (this.panicError === undefined) this.panicError = e;
  }

  /** True after an I/O failure (I8): every call then throws `RUN_RECOVERY`; reopen to recover. */
  get panicked(): boolean {
    return this.panicError !== undefined;
  }

  // ---- transactions ------------------------------------------------------------------------

  /**
   * Begins a transaction on the latest committed state: a write transaction (commit or abort
   * it) or, with `readOnly`, a snapshot for reads (end it with `abort()`). One that is forgotten
   * (unreachable, never ended) is aborted once the garbage collector finds it, releasing its
   * snapshot (src/txn/forgotten.ts).
   */
  begin(options: { readOnly?: boolean | undefined; durability?: Durability | undefined } = {}): Transaction {
    return this.startTxn(options, true);
  }

  /** @internal A transaction on the latest state; `weakly`: forgotten ones are aborted when collected (begin). */
  startTxn(options: { readOnly?: boolean | undefined; durability?: Durability | undefined }, weakly: boolean): Transaction {
    this.checkUsable();
    if (options.durability !== undefined && !DURABILITIES.includes(options.durability)) throw invalid(`durability must be one of ${DURABILITIES.join(', ')}`);
    if (this.readOnly && !options.readOnly) {
      throw new CairnError('READ_ONLY', `environment ${this.home} was opened read-only; begin({ readOnly: true }) to read`);
    }
    const txn = new Transaction(this.pager, this, options);
    this.active.add(txn, weakly);
    this.counters.begun++;
    return txn;
  }

  /**
   * Runs fn in a transaction and commits it; aborts if fn throws. Returns fn's result once the
   * commit is durable per the durability chosen. If fn read data that a concurrent commit
   * changed (CONFLICT), fn runs again in a new transaction (up to `retries` times, default 100;
   * retries run one at a time):
   * keep fn free of side effects other than the transaction's. A synchronous fn never conflicts.
   */
  transaction<T>(fn: (txn: Transaction) => T | Promise<T>, options: { durability?: Durability | undefined; readOnly?: boolean | undefined; retries?: number | undefined } = {}): Promise<T> {
    return this.runner.transaction(fn, options);
  }

  /** @internal A write without a transaction: fn in its own transaction, committed. */
  autoCommit<T>(fn: (txn: Transaction) => T): Promise<T> {
    return this.runner.autoCommit(fn);
  }

  /** @internal */
  endTxn(txn: Transaction): void {
    if (!this.active.delete(txn)) return;
    if (txn.state === 'aborted') this.counters.aborts++;
    txn.release();
  }

  /**
   * @internal The commit path (txn/commit.ts): log the changes, install them, then make them
   * durable. Runs synchronously up to the install; returns a promise only when the commit must
   * wait, else undefined. Throws (synchronously) when the commit fails before its install.
   */
  commitTxn(txn: Transaction, durability: Durability | undefined): Promise<void> | undefined {
    return this.pipeline.commitTxn(txn, durability);
  }

  /** @internal CommitHost: a commit is as durable as `mode` asks (checkpoint triggers, back-pressure). */
  committed(mode: Durability): Promise<void> | undefined {
    return this.checkpointer.afterCommit(mode);
  }

  /** @internal CommitHost: a committed file removal or rename, carried out on disk. */
  applyFileOp(op: Transaction['fileOps'][number]): void {
    this.catalog.applyFileOp(op);
  }

  /** Hot backups in progress in this process: the log then never fdatasyncs in the main thread. */
  private backupsRunning = 0;

  /** @internal Keeps a promise that close() waits for. */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  // ---- databases ---------------------------------------------------------------------------

  /** @internal Where a data file of this name is, or would be created. */
  resolveDataFile(name: string): string {
    return checkedDataFile(this.vfs, this.dirs, name);
  }

  /** Names of the databases in a data file ('' is the unnamed database). */
  listDatabases(fileName: string): string[] {
    return this.catalog.listDatabases(fileName);
  }

  /** @internal CAIRN_CHECKS=strict after each commit (txn/commit.ts): catalog.ts verifyFiles. */
  verifyFiles(files: Iterable<DataFile>): void {
    this.catalog.verifyFiles(files);
  }

  /** Opens (or creates) a database: the unnamed one of a file, or a named one inside it. */
  openDatabase<K = Buffer, V = Buffer>(fileName: string, options: OpenDatabaseOptions<K, V> = {}): Promise<Database<K, V>> {
    return this.catalog.openDatabase<K, V>(fileName, options);
  }

  /**
   * @internal Creates a database in an existing data file as part of `txn` (visible only if it
   * commits): db_load's (catalog.ts).
   */
  createDatabaseIn(txn: Transaction, fileName: string, options: Omit<OpenDatabaseOptions, 'create' | 'exclusive'> = {}): Database {
    return this.catalog.createDatabaseIn(txn, fileName, options);
  }

  /** Removes a named database from its file, or (no name) the whole file with its databases. */
  removeDatabase(fileName: string, name?: string): Promise<void> {
    return this.catalog.removeDatabase(fileName, name);
  }

  /** Renames a named database inside its file, or (name undefined) the file itself. */
  renameDatabase(fileName: string, name: string | undefined, newName: string): Promise<void> {
    return this.catalog.renameDatabase(fileName, name, newName);
  }

  // ---- checkpoints and log archival ----------------------------------------------------------

  /**
   * A fuzzy checkpoint: takes the redo point, writes the pages dirty before it (after the log is
   * durable through them: I1), fsyncs the data files, logs the checkpoint and records the redo
   * point in the control file. Writers keep committing meanwhile; their pages' first change after
   * the redo point is logged whole (I4).
   */
  checkpoint(): Promise<void> {
    return this.checkpointer.checkpoint();
  }

  /** Log files normal recovery no longer needs and no backup has pinned (I5), oldest first. */
  removableLogs(): number[] {
    return this.archival.removableLogs();
  }

  /** @internal Keeps log files from `fromFile` on from being removed until the returned function is called (I5). */
  pinLogs(fromFile: number): () => void {
    return this.archival.pinLogs(fromFile);
  }

  /** @internal The owner's channel: db_archive -d (archival.ts). */
  removeArchivableLogs(): number[] {
    return this.archival.removeArchivable();
  }

  /** @internal For backups and tools. */
  get logDir(): string {
    return this.dirs.logDir;
  }

  /** @internal */
  get logEnd(): Lsn {
    return this.writer?.end ?? this.control.end;
  }

  /** @internal */
  get redoPoint(): Lsn {
    return this.control.redo;
  }

  /**
   * A hot backup into `dir` while the environment stays in use: data files, then log files,
   * then catastrophic recovery in the target (see docs/BACKUP.md).
   */
  async hotBackup(dir: string, options: HotBackupOptions = {}): Promise<HotBackupReport> {
    this.checkUsable();
    const { hotBackup } = backupFunctions();
    this.backupsRunning++;
    try {
      return await this.track(hotBackup(this, dir, options));
    } finally {
      this.backupsRunning--;
    }
  }

  /** Lists (and with `remove`, removes) log and data files, as db_archive does. */
  async archive(options: ArchiveOptions = {}): Promise<string[]> {
    this.checkUsable();
    const { archive } = backupFunctions();
    return archive(this, options);
  }

  /** Makes everything committed so far durable (for nosync / write-nosync commits). */
  async flushLog(): Promise<void> {
    this.checkUsable();
    await this.track(this.log.flush());
  }

  // ---- status ------------------------------------------------------------------------------

  /** Log, transaction, cache and checkpoint figures (`db_stat -e` prints them). */
  stat(): EnvironmentStat {
    this.checkUsable();
    return environmentStat(this);
  }

  // ---- closing -----------------------------------------------------------------------------

  /**
   * Closes the environment: aborts open transactions, waits for commits in flight, checkpoints,
   * and marks the control file closed so the next open needs no recovery. After a panic it
   * only releases the files and the lock: the next open recovers.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const t of [...this.active]) if (t.state === 'active') t.abort();
    await Promise.allSettled([...this.inflight]);
    this.checkpointer.stopTimer();
    await this.channel?.close();
    try {
      if (this.panicError === undefined && !this.readOnly) {
        await this.checkpoint();
        // The control file will say the data files need no log before the end: their meta pages
        // must say so too (needsLog in the end's log file), or a copy with the logs from the redo
        // point on would be refused. When the checkpoint's own records reached a new log file,
        // once more (bounded: a checkpoint with nothing dirty logs a few pages).
        for (let i = 0; i < 3 && lsnFile(this.log.end) !== lsnFile(this.control.redo); i++) await this.checkpoint();
        this.log.flushSync();
        const end = this.log.end;
        this.control = { ...this.control, state: 'closed', redo: end, end, nextTxn: this.pipeline.nextTxn, lastCommit: this.pipeline.lastCommit };
        writeControl(this.vfs, this.home, this.control);
      }
    } finally {
      this.closed = true;
      for (const db of this.catalog.databases) db.markClosed();
      for (const f of this.pager.files.values()) {
        try {
          f.handle?.close();
        } catch {
          // already failed: nothing to keep
        }
      }
      this.writer?.close();
      this.lock.release();
    }
  }
}
