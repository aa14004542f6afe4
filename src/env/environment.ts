// The environment: a home directory with its log, data files, control file and owner lock
// (docs/DESIGN.md §Layers). Opening runs recovery when the last owner did not close cleanly.

import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import { BTree, type DupMode } from '../btree/btree.js';
import { diffRanges, rangesOf } from '../btree/ranges.js';
import { nodeVfs } from '../io/node.js';
import type { Vfs } from '../io/vfs.js';
import { logFileName } from '../log/file.js';
import { listLogFiles } from '../log/reader.js';
import { PAGE_DELTA_FIXED, commitBody, pageDeltaBody, pageImageBody } from '../log/records.js';
import { LogWriter } from '../log/writer.js';
import { PageOffset, PageType } from '../page/format.js';
import { MetaOffset, initMeta, readMeta } from '../page/meta.js';
import { DataFile, type FilePages, Pager, SnapshotReader, diffInto, inFile, initPageHeader } from '../page/pager.js';
import { writePageMap } from '../page/lsnmap.js';
import { DURABILITIES, type Durability, INTERNAL_TXN, Transaction } from '../txn/txn.js';
import { ActiveTxns } from '../txn/forgotten.js';
import { CairnError, CorruptionError, IoError, RunRecoveryError, invalid } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, lsnOffset, readLsn, writeLsn } from '../util/lsn.js';
import { type Control, writeControl } from './control.js';
import { Database, type Descriptor, badDescriptorRoot, decodeDescriptor, encodeDescriptor } from './database.js';
import { type OwnerLock, lockEnvironment } from './lock.js';
import { type Channel, startChannel } from './channel.js';
import { openDataFile } from './recovery.js';
import { LOAD_TEMP_PREFIX, fileNameProblem, loadTempPid } from './names.js';
import { keptLogs } from './retention.js';
import { planted } from '../util/plant.js'; // PLANT: the planted-bug yardstick (src/util/plant.ts)
import { type Dirs, isDataFileName, resolveDataFile } from './dirs.js';
import { type OpenContext, type Opening, openControl, openLog, prepareHome } from './open.js';
import { type ArchiveOptions, ENV_DEFAULTS, type EnvironmentOptions, type EnvironmentStat, type HotBackupOptions, type HotBackupReport, type OpenDatabaseOptions, type RecoverOptions, type RecoveryReport, checkOptions, resolveOptions } from './options.js';
import { recoverHome } from './recover.js';

export type { EnvironmentOptions, OpenDatabaseOptions, RecoverOptions, RecoveryReport, EnvironmentStat, HotBackupOptions, HotBackupReport, ArchiveOptions } from './options.js';

/** For promises whose outcome is reported elsewhere. */
const noop = (): void => {};

/** The most pages a checkpoint writes with one call (256 KiB of 4 KiB pages). */
const CHECKPOINT_RUN = 64;

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
  private readonly writer: LogWriter | undefined;
  /** Opened with `{ readOnly: true }`: reads only; writes throw `READ_ONLY`. */
  readonly readOnly: boolean;
  private lock: OwnerLock;
  private control: Control;
  private readonly autoRemove: boolean;
  private readonly ckptKbytes: number;
  private readonly ckptMinutes: number;
  private ckptTimer: NodeJS.Timeout | undefined;
  private ckptRunning: Promise<void> | undefined;
  /** The write-back running (runWriteBack), if any: never at the same time as a checkpoint. */
  private wbRunning: Promise<void> | undefined;
  private lastCkpt: Lsn;
  private lastCkptTime = Date.now();
  private logAtLastCkpt: number;
  private ckptCount = 0;
  private nextTxn: number;
  private active = new ActiveTxns<Transaction>();
  /** env.transaction() callbacks running synchronously right now (a nested call is refused). */
  private inCallback = 0;
  /** stat().txn.oldSnapshots lists snapshots keeping more than this many bytes of older page versions. */
  private snapshotWarnBytes = Infinity;
  private inflight = new Set<Promise<unknown>>();
  private panicError: Error | undefined;
  private closed = false;
  private counters = { begun: 0, commits: 0, aborts: 0 };
  private lastCommit: number | undefined;
  private databases = new Set<Database>();
  /** Log files that must not be removed (pinned by a running backup: I5). */
  private pins = new Map<number, number>();
  private channel: Channel | undefined;

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
    this.lock = args.lock;
    this.control = args.control;
    this.autoRemove = args.autoRemove;
    this.ckptKbytes = args.ckptKbytes;
    this.ckptMinutes = args.ckptMinutes;
    this.nextTxn = args.control.nextTxn;
    this.lastCkpt = args.control.checkpoint;
    this.logAtLastCkpt = this.writer?.stats.bytes ?? 0;
    if (this.ckptMinutes > 0 && !this.readOnly) {
      this.ckptTimer = setInterval(() => this.timedCheckpoint(), Math.min(60_000, this.ckptMinutes * 60_000));
      this.ckptTimer.unref();
    }
  }

  /** The log writer; throws READ_ONLY in a read-only environment. */
  private get log(): LogWriter {
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
    await this.removeLoadTemps();
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
    this.pager.onPressure = () => this.backgroundWriteBack();
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

  /** Enters the panic state (I8): every later call throws RunRecoveryError until reopened. */
  private panic(e: Error): void {
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

  private startTxn(options: { readOnly?: boolean | undefined; durability?: Durability | undefined }, weakly: boolean): Transaction {
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
  async transaction<T>(fn: (txn: Transaction) => T | Promise<T>, options: { durability?: Durability | undefined; readOnly?: boolean | undefined; retries?: number | undefined } = {}): Promise<T> {
    if (this.inCallback > 0) {
      // An inner transaction would commit on its own and the outer one then overwrite it.
      throw invalid('env.transaction() was called inside another env.transaction() callback; use the outer callback\'s transaction (pass it to get/put/del) instead of nesting');
    }
    const retries = options.retries ?? ENV_DEFAULTS.retries;
    for (let attempt = 0; ; attempt++) {
      // After a conflict, attempts run one at a time, so that contenders make progress.
      const release = attempt > 0 ? await this.retryTurn() : undefined;
      try {
        return await this.attempt(fn, options);
      } catch (e) {
        if (!(e instanceof CairnError && e.code === 'CONFLICT') || attempt >= retries) throw e;
      } finally {
        release?.();
      }
    }
  }

  private retryQueue: Promise<void> = Promise.resolve();

  private async retryTurn(): Promise<() => void> {
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    const before = this.retryQueue;
    this.retryQueue = before.then(() => turn);
    await before;
    return release;
  }

  private async attempt<T>(fn: (txn: Transaction) => T | Promise<T>, options: { durability?: Durability; readOnly?: boolean }): Promise<T> {
    const txn = this.startTxn(options, false);
    let result: T;
    try {
      let r: T | Promise<T>;
      this.inCallback++;
      try {
        r = fn(txn);
      } finally {
        this.inCallback--;
      }
      // A synchronous callback commits in the same turn: nothing can interleave (no conflict).
      result = r instanceof Promise ? await r : r;
    } catch (e) {
      txn.abort();
      throw e;
    }
    if (txn.active) {
      // Straight into the commit path: a commit that need not wait (relaxed, or a lone committer's
      // flush done in commitTxn) returns no promise, so no promise hop is added here.
      const wait = txn.commitNow();
      if (wait !== undefined) await wait;
    }
    return result;
  }

  /** @internal */
  autoCommit<T>(fn: (txn: Transaction) => T): Promise<T> {
    const txn = this.startTxn({}, false);
    let result: T;
    try {
      result = fn(txn);
    } catch (e) {
      txn.abort();
      throw e;
    }
    return txn.commit().then(() => result);
  }

  /** @internal */
  endTxn(txn: Transaction): void {
    if (!this.active.delete(txn)) return;
    if (txn.state === 'aborted') this.counters.aborts++;
    txn.release();
  }

  /**
   * @internal The commit path: log the changes, install them, then make them durable. Runs
   * synchronously up to the install; returns a promise only when the commit must wait (group
   * commit, a file operation after the flush, a checkpoint's turn), else undefined. Throws
   * (synchronously) when the commit fails before its install.
   */
  commitTxn(txn: Transaction, durability: Durability | undefined): Promise<void> | undefined {
    this.checkUsable();
    if (durability !== undefined && !DURABILITIES.includes(durability)) throw invalid(`durability must be one of ${DURABILITIES.join(', ')}`);
    if (txn.readOnly || (txn.ops.length === 0 && !txn.hasChanges)) {
      txn.state = 'committed';
      return undefined;
    }
    if (txn.seq !== this.pager.seq) {
      // Only a transaction that read can conflict (blind writes rebase instead).
      if (txn.readFiles.size > 0) {
        for (const c of this.recent) {
          if (c.seq <= txn.seq) continue;
          for (const f of c.files) {
            if (txn.readFiles.has(f)) {
              txn.state = 'aborted';
              throw new CairnError('CONFLICT', `the transaction read ${f.name}, which another transaction changed after it began; run it again (env.transaction() does so itself)`);
            }
          }
        }
      }
      // Blind writes whose pages (changed or only read) nobody else changed meanwhile install as they are.
      if (txn.readFiles.size > 0 || !txn.pagesStillCurrent()) txn.rebase();
    }
    // Writes that changed nothing (a delete that found no key) commit as nothing — after the
    // rebase above, since on the latest state they may change something.
    if (!txn.hasChanges) {
      txn.state = 'committed';
      return undefined;
    }
    const id = this.nextTxn;
    this.nextTxn = this.nextTxn >= 0xffff_fff0 ? 1 : this.nextTxn + 1;
    const log = this.log;
    const installs = this.logTxn(txn, id);
    const end = log.end;
    this.lastCommit = this.loggedTime;
    // Install: from here the changes are visible to new readers.
    const seq = ++this.pager.seq;
    this.noteCommit(seq, txn);
    txn.state = 'committed';
    this.counters.commits++;
    // The transaction's own snapshot goes before the install: nothing reads through it any more
    // (its pages are in `installs`), so the versions it replaces are kept only for other snapshots.
    this.endTxn(txn);
    for (const f of txn.newFiles) this.pager.addFile(f);
    for (let i = 0; i < installs.length; i += 4) {
      this.pager.install(installs[i] as DataFile, installs[i + 1] as number, installs[i + 2] as Buffer, seq, installs[i + 3] as boolean);
    }
    const fileOps = txn.fileOps;
    for (const op of fileOps) {
      if (op.kind === 'remove') op.file.removed = true;
    }
    const created = txn.newFiles.length > 0 ? this.createdPages(txn.newFiles, installs) : undefined;
    let mode = durability ?? txn.durability ?? this.durability;
    if (fileOps.length > 0 || created !== undefined) mode = 'sync';
    if (mode === 'sync') {
      // A lone committer's log is made durable right here (flushNow); otherwise it joins a group.
      if (!log.flushNow(end)) return this.track(log.flush(end)).then(() => this.afterCommit(fileOps, mode, created));
    } else if (mode === 'write-nosync') log.write();
    return this.afterCommit(fileOps, mode, created);
  }

  /** The pages of the files a commit creates, held (Pager.hold) until createFiles has written them. */
  private createdPages(files: DataFile[], installs: Array<DataFile | number | Buffer | boolean>): { pages: Array<{ file: DataFile; pgno: number; buf: Buffer }>; letGo: () => void } {
    const pages: Array<{ file: DataFile; pgno: number; buf: Buffer }> = [];
    for (let i = 0; i < installs.length; i += 4) {
      const file = installs[i] as DataFile;
      if (files.includes(file)) pages.push({ file, pgno: installs[i + 1] as number, buf: installs[i + 2] as Buffer });
    }
    // Meta pages last, as a checkpoint writes them (§Checkpoints: a copy that finds a meta page finds the file's other pages).
    pages.sort((a, b) => (a.pgno === 0 ? 1 : 0) - (b.pgno === 0 ? 1 : 0));
    return { pages, letGo: this.pager.hold(pages) };
  }

  /**
   * Data files exist on disk from the commit that creates them (after the log is durable through
   * it: I1), so that db_archive -s, db_stat and a copy of the data files see them: each is created
   * (exclusively, never through a symbolic link), its pages as this commit made them are written,
   * then the file and its directory are fsynced. Recovery redoes a file_create whose file is
   * missing, empty, short or complete alike. A failure panics the environment (I8).
   */
  private createFiles(created: { pages: Array<{ file: DataFile; pgno: number; buf: Buffer }>; letGo: () => void }): void {
    try {
      const files = new Set(created.pages.map((d) => d.file));
      for (const file of files) {
        if (file.removed || !this.pager.files.has(file.uid) || file.handle !== undefined) continue;
        file.handle = this.vfs.open(file.path, { create: true, exclusive: true, noFollow: true });
        for (const d of created.pages) if (d.file === file) this.pager.writePage(file, d.pgno, d.buf);
        file.handle.sync();
        this.pager.unsynced.delete(file);
        this.vfs.syncDir(path.dirname(file.path));
        for (const d of created.pages) if (d.file === file) this.pager.markClean(file, d.pgno, d.buf);
      }
    } catch (e) {
      this.panic(e as Error);
      throw new RunRecoveryError(`creating a data file failed: ${(e as Error).message}`, { cause: e });
    } finally {
      created.letGo();
    }
  }

  /** commitTxn's end, once the commit is as durable as `mode` asks: file operations, checkpoint triggers. */
  private afterCommit(fileOps: Transaction['fileOps'], mode: Durability, created?: Parameters<Environment['createFiles']>[0]): Promise<void> | undefined {
    if (created !== undefined) this.createFiles(created);
    for (const op of fileOps) this.applyFileOp(op);
    if (this.ckptKbytes > 0 && this.log.stats.bytes - this.logAtLastCkpt >= this.ckptKbytes * 1024) this.backgroundCheckpoint();
    // Dirty pages cannot be evicted before they are written. Past the whole cache budget, commits
    // are outrunning the write-backs that pressure (half the cache) starts: the commit waits until
    // a write-back (or the checkpoint running) brought dirty pages back under it, so memory stays
    // bounded. Their outcome is their own (a failure panics the environment).
    if (this.pager.dirtyPages * this.pageSize > this.pager.cacheSize) return this.relieve();
    if (this.ckptRunning === undefined && this.wbRunning === undefined) return undefined;
    // Checkpoints and write-backs write pages between event-loop turns. A loader awaiting relaxed
    // commits in a loop only ever waits on microtasks, so without this turn they could not
    // progress, and every page of the load stayed dirty in memory.
    if (mode !== 'sync') return new Promise<void>((r) => setImmediate(r));
    return undefined;
  }

  /**
   * Logs a transaction's records and its commit (synchronously: a transaction's records are
   * contiguous) and returns the pages to install, flat: (file, pgno, buffer, image) per page.
   * Its commit record's time is left in loggedTime. A failure panics.
   */
  private logTxn(txn: Transaction, id: number): Array<DataFile | number | Buffer | boolean> {
    const log = this.log;
    const installs: Array<DataFile | number | Buffer | boolean> = [];
    try {
      for (const f of txn.newFiles) log.append({ type: 'file_create', txn: id, file: f.uid, name: f.name, pageSize: f.pageSize });
      for (const fp of txn.files.values()) {
        const changed = fp.changed;
        if (changed.size === 0) continue;
        const file = fp.file;
        // Pages in ascending order (one page, the common case, needs no sort).
        const pgnos = changed.size === 1 ? changed.keys() : [...changed.keys()].sort((a, b) => a - b);
        for (const pgno of pgnos) {
          const buf = changed.get(pgno)!;
          const base = fp.created.has(pgno) ? undefined : this.pager.read(file, pgno, Infinity);
          const image = base === undefined || this.pager.needsImage(file, pgno);
          // Bodies are encoded into one reused scratch buffer (the log copies them at append).
          const scratch = this.recordScratch(buf.length);
          let lsn: Lsn;
          if (image) {
            // An image needs no delta: only whether the page changed at all (past checksum and LSN).
            if (base !== undefined && base.compare(buf, PageOffset.pgno, buf.length, PageOffset.pgno, base.length) === 0) continue;
            buf.fill(0, 0, 12);
            lsn = log.appendBody(pageImageBody(scratch, id, file.uid, pgno, buf));
          } else {
            // The B-tree's changed ranges when it reported them (src/btree/ranges.ts), else the whole page.
            const ranges = rangesOf(fp, pgno, buf);
            const n = ranges === undefined ? diffInto(base!, buf, scratch, PAGE_DELTA_FIXED) : diffRanges(base!, ranges, scratch, PAGE_DELTA_FIXED);
            if (n === 0) continue;
            buf.fill(0, 0, 12);
            lsn = log.appendBody(pageDeltaBody(scratch, id, file.uid, pgno, readLsn(base!, 4), n));
          }
          writeLsn(buf, 4, lsn);
          installs.push(file, pgno, buf, image);
        }
      }
      for (const op of txn.fileOps) {
        if (op.kind === 'remove') log.append({ type: 'file_remove', txn: id, file: op.file.uid, name: op.file.name });
        else log.append({ type: 'file_rename', txn: id, file: op.file.uid, name: op.file.name, newName: op.newName! });
      }
      const time = Date.now();
      log.appendBody(commitBody(this.recordScratch(0), id, time, log.durableLsn));
      this.loggedTime = time;
      return installs;
    } catch (e) {
      this.panic(e as Error);
      throw this.panicError === e ? new RunRecoveryError(`commit failed: ${(e as Error).message}`, { cause: e }) : e;
    }
  }

  private scratch = Buffer.alloc(0);
  /** The time in the commit record logTxn appended last. */
  private loggedTime = 0;

  /** logTxn's buffer for encoding page records: room for a delta of a page of `pageSize` bytes (the larger kind). */
  private recordScratch(pageSize: number): Buffer {
    const need = PAGE_DELTA_FIXED + 2 * pageSize + 16;
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafeSlow(need);
    return this.scratch;
  }

  /** Files changed by recent commits, kept while an older write transaction may still commit. */
  private recent: Array<{ seq: number; files: DataFile[] }> = [];

  private noteCommit(seq: number, txn: Transaction): void {
    let oldest = Infinity;
    for (const t of this.active) if (t !== txn && !t.readOnly && t.seq < oldest) oldest = t.seq;
    if (oldest === Infinity) {
      this.recent.length = 0;
      return;
    }
    let drop = 0;
    while (drop < this.recent.length && this.recent[drop]!.seq <= oldest) drop++;
    if (drop > 0) this.recent.splice(0, drop);
    this.recent.push({ seq, files: [...txn.files.keys(), ...txn.fileOps.map((o) => o.file)] });
  }

  /** Hot backups in progress in this process: the log then never fdatasyncs in the main thread. */
  private backupsRunning = 0;

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Carries out a committed file removal or rename on disk (after the commit is durable). */
  private applyFileOp(op: Transaction['fileOps'][number]): void {
    const f = op.file;
    if (op.kind === 'remove') {
      this.pager.dropFile(f);
      if (this.vfs.stat(f.path) !== undefined) {
        this.vfs.unlink(f.path);
        this.vfs.syncDir(path.dirname(f.path));
      }
    } else {
      const to = op.newPath!;
      if (this.vfs.stat(f.path) !== undefined) {
        f.handle?.close();
        f.handle = undefined;
        this.vfs.rename(f.path, to);
        this.vfs.syncDir(path.dirname(to));
      }
      f.name = op.newName!;
      f.path = to;
    }
  }

  /**
   * Removes the temporary files of db_loads that were killed (`.db_load.<pid>.<name>`, names.ts),
   * each with a committed removal: no db_load runs while this process owns the environment (it
   * would own it), so every such file is a load's that never finished (docs/TOOLS.md db_load).
   */
  private async removeLoadTemps(): Promise<void> {
    for (const d of this.dirs.dataDirs.length > 0 ? this.dirs.dataDirs : [this.home]) {
      for (const n of this.vfs.readdir(d)) {
        if (loadTempPid(n) === undefined || fileNameProblem(n) !== undefined || this.resolveDataFile(n) !== path.join(d, n)) continue;
        try {
          if (this.findFile(n) === undefined) continue;
        } catch (e) {
          if (e instanceof CairnError && !(e instanceof IoError)) continue; // not a data file of this environment: left alone
          throw e;
        }
        await this.removeDatabase(n);
      }
    }
  }

  // ---- databases ---------------------------------------------------------------------------

  /** @internal Where a data file of this name is, or would be created. */
  resolveDataFile(name: string): string {
    return resolveDataFile(this.vfs, this.dirs, name);
  }

  /** A name a new data file may get (DESIGN.md §Data file names); `temporary`: db_load's. */
  private checkFileName(name: string, temporary = false): void {
    const why = fileNameProblem(name);
    if (why !== undefined) throw invalid(why);
    if (!temporary && name.startsWith(LOAD_TEMP_PREFIX)) throw invalid(`database file name ${JSON.stringify(name)} is reserved for db_load's temporary files; choose another name`);
  }

  /** Refuses a path that is a symbolic link (dangling or not): cairn never reads or writes a data file through one. */
  private refuseLink(name: string, p: string): void {
    let h;
    try {
      h = this.vfs.open(p, { readOnly: true, noFollow: true });
    } catch (e) {
      if (e instanceof IoError && e.errno === 'ELOOP') throw invalid(`database file ${name} (${p}) is a symbolic link; a data file must be a regular file in a data directory`);
      if (e instanceof IoError && e.errno === 'ENOENT') return;
      throw e;
    }
    h.close();
  }

  /** The data file by name: already open, or opened from disk; undefined when it does not exist. */
  private findFile(name: string): DataFile | undefined {
    const why = fileNameProblem(name);
    if (why !== undefined) throw invalid(why);
    const open = this.pager.fileByName(name);
    if (open !== undefined) return open;
    const p = this.resolveDataFile(name);
    this.refuseLink(name, p);
    if (this.vfs.stat(p) === undefined) return undefined;
    const file = openDataFile(this.vfs, name, p, this.envId);
    if (file === undefined) throw new CorruptionError(p, 0, 'not a cairn data file: its meta page (page 0) is damaged or was never written');
    const existing = this.pager.files.get(file.uid);
    if (existing !== undefined && existing.path !== p) {
      throw new CorruptionError(p, 16, `the meta page says file id ${file.uid}, which is ${existing.path}'s: one data file was copied over the other`);
    }
    if (existing !== undefined) return existing;
    this.pager.addFile(file);
    readMeta(this.pager.read(file, 0, Infinity), p); // verifies the meta page's checksum too
    return file;
  }

  private catalog(file: DataFile, reader: { page(n: number): Buffer }): BTree {
    return new BTree(reader.page(0).readUInt32LE(MetaOffset.catalogRoot), 'none');
  }

  /** Names of the databases in a data file ('' is the unnamed database). */
  listDatabases(fileName: string): string[] {
    this.checkUsable();
    const file = this.findFile(fileName);
    if (file === undefined) throw new CairnError('NOT_FOUND', `database file ${fileName} does not exist`);
    const r = new SnapshotReader(this.pager, file, Infinity);
    const out: string[] = [];
    inFile(file, () => {
      const c = this.catalog(file, r).cursor(r);
      for (let e = c.first(); e !== undefined; e = c.next()) out.push(e[0].toString('utf8'));
    });
    return out;
  }

  /** Opens (or creates) a database: the unnamed one of a file, or a named one inside it. */
  async openDatabase(fileName: string, options: OpenDatabaseOptions = {}): Promise<Database> {
    this.checkUsable();
    this.checkFileName(fileName, true);
    const name = options.name;
    if (name !== undefined && typeof name !== 'string') throw invalid('database name must be a string');
    const dup: DupMode = options.duplicates === true ? 'sorted' : options.duplicates === false || options.duplicates === undefined ? 'none' : options.duplicates;
    if (!['none', 'sorted', 'unsorted'].includes(dup)) throw invalid(`duplicates must be 'sorted', 'unsorted' or false, got ${String(options.duplicates)}`);
    const key = Buffer.from(name ?? '', 'utf8');
    let file = this.findFile(fileName);
    if (file !== undefined) {
      const r = new SnapshotReader(this.pager, file, Infinity);
      const found = inFile(file!, () => this.catalog(file!, r).get(r, key));
      if (found !== undefined) {
        if (options.create && options.exclusive) throw new CairnError('EXISTS', `database ${fileName}${name ? `:${name}` : ''} exists`);
        const desc = decodeDescriptor(found, fileName);
        // Duplicates are set at creation: an explicit option that differs is refused, not ignored.
        if (options.duplicates !== undefined && dup !== desc.dup) {
          throw invalid(`database ${fileName}${name ? `:${name}` : ''} exists with duplicates ${desc.dup === 'none' ? 'off' : `'${desc.dup}'`}, which the option duplicates: ${JSON.stringify(options.duplicates)} does not match; omit the option, or create a new database for duplicates`);
        }
        return this.track(Promise.resolve(this.handle(file, name, desc)));
      }
      if (!options.create) throw new CairnError('NOT_FOUND', `database ${name ?? '(unnamed)'} does not exist in ${fileName}; pass { create: true } to make it`);
    } else if (!options.create) {
      throw new CairnError('NOT_FOUND', `database file ${fileName} does not exist in ${this.home}; pass { create: true } to make it`);
    } else this.checkFileName(fileName, options.temporary === true);
    let desc: Descriptor | undefined;
    await this.autoCommit((txn) => {
      let w: FilePages;
      if (file === undefined) {
        file = this.newDataFile(txn, fileName);
        w = txn.writer(file);
      } else w = txn.writer(file);
      const root = BTree.create(w);
      desc = { ...options.descriptor, root, dup };
      this.catalog(file, w).put(w, key, encodeDescriptor(desc));
    });
    return this.handle(file!, name, desc!);
  }

  // issue 5: db_load creates the databases of a load into an existing file inside its load
  // transaction, so that a load that fails (and aborts) leaves no empty database behind.
  /**
   * @internal Creates a database in an existing data file as part of `txn` (visible only if it
   * commits). Throws EXISTS when the name is taken. Not for use with concurrent writers: the
   * handle keeps the root allocated here even if the transaction is rebased.
   */
  createDatabaseIn(txn: Transaction, fileName: string, options: Omit<OpenDatabaseOptions, 'create' | 'exclusive'> = {}): Database {
    this.checkUsable();
    this.checkTxn(txn);
    const file = this.findFile(fileName);
    if (file === undefined) throw new CairnError('NOT_FOUND', `database file ${fileName} does not exist`);
    const dup: DupMode = options.duplicates === true ? 'sorted' : options.duplicates === false || options.duplicates === undefined ? 'none' : options.duplicates;
    const key = Buffer.from(options.name ?? '', 'utf8');
    let desc: Descriptor | undefined;
    txn.apply((t) => {
      const w = t.writer(file);
      const cat = this.catalog(file, w);
      if (cat.get(w, key) !== undefined) throw new CairnError('EXISTS', `database ${fileName}${options.name ? `:${options.name}` : ''} exists`);
      desc = { ...options.descriptor, root: BTree.create(w), dup };
      cat.put(w, key, encodeDescriptor(desc));
    });
    return this.handle(file, options.name, desc!);
  }

  private handle(file: DataFile, name: string | undefined, desc: Descriptor): Database {
    const db = new Database(this, file, name, desc);
    this.databases.add(db);
    return db;
  }

  private newDataFile(txn: Transaction, name: string): DataFile {
    let uid: number;
    do uid = randomInt(1, 0xffff_ffff);
    while (this.pager.files.has(uid));
    const file = new DataFile(name, this.resolveDataFile(name), uid, this.pageSize);
    txn.newFiles.push(file);
    const w = txn.writer(file);
    const meta = Buffer.alloc(this.pageSize);
    initPageHeader(meta, 0, uid, PageType.Meta);
    initMeta(meta, this.pageSize, this.envId);
    meta.writeUInt32LE(1, MetaOffset.pageCount);
    w.changed.set(0, meta);
    w.created.add(0);
    meta.writeUInt32LE(BTree.create(w), MetaOffset.catalogRoot);
    return file;
  }

  /** Removes a named database from its file, or (no name) the whole file with its databases. */
  async removeDatabase(fileName: string, name?: string): Promise<void> {
    this.checkUsable();
    const file = this.findFile(fileName);
    if (file === undefined) throw new CairnError('NOT_FOUND', `database file ${fileName} does not exist`);
    if (name === undefined) {
      await this.autoCommit((txn) => txn.fileOps.push({ kind: 'remove', file }));
      for (const db of this.databases) if (db.file === file) db.markClosed();
      return;
    }
    const key = Buffer.from(name, 'utf8');
    await this.autoCommit((txn) => {
      const w = txn.writer(file);
      const cat = this.catalog(file, w);
      const found = cat.get(w, key);
      if (found === undefined) throw new CairnError('NOT_FOUND', `database ${name} does not exist in ${fileName}`);
      const bad = badDescriptorRoot(decodeDescriptor(found, fileName), cat.root); // never drop the catalog (issue 21)
      if (bad !== undefined) throw new CorruptionError(file.path, cat.leafFor(w, key) * file.pageSize, `the catalog entry of database ${fileName}:${name}: ${bad}; run db_verify`);
      new BTree(decodeDescriptor(found, fileName).root, 'none').drop(w);
      cat.del(w, key);
    });
    for (const db of this.databases) if (db.file === file && db.name === name) db.markClosed();
  }

  /** Renames a named database inside its file, or (name undefined) the file itself. */
  async renameDatabase(fileName: string, name: string | undefined, newName: string): Promise<void> {
    this.checkUsable();
    const file = this.findFile(fileName);
    if (file === undefined) throw new CairnError('NOT_FOUND', `database file ${fileName} does not exist`);
    if (name === undefined) {
      this.checkFileName(newName);
      if (this.findFile(newName) !== undefined) throw new CairnError('EXISTS', `database file ${newName} exists`);
      const newPath = path.join(path.dirname(file.path), newName);
      await this.autoCommit((txn) => txn.fileOps.push({ kind: 'rename', file, newName, newPath }));
      return;
    }
    const from = Buffer.from(name, 'utf8');
    const to = Buffer.from(newName, 'utf8');
    await this.autoCommit((txn) => {
      const w = txn.writer(file);
      const cat = this.catalog(file, w);
      const found = cat.get(w, from);
      if (found === undefined) throw new CairnError('NOT_FOUND', `database ${name} does not exist in ${fileName}`);
      if (cat.get(w, to) !== undefined) throw new CairnError('EXISTS', `database ${newName} exists in ${fileName}`);
      cat.del(w, from);
      cat.put(w, to, found);
    });
    for (const db of this.databases) if (db.file === file && db.name === name) db.markClosed();
  }

  // ---- checkpoints -------------------------------------------------------------------------

  /**
   * A fuzzy checkpoint: takes the redo point, writes the pages dirty before it (after the log is
   * durable through them: I1), fsyncs the data files, logs the checkpoint and records the redo
   * point in the control file. Writers keep committing meanwhile; their pages' first change after
   * the redo point is logged whole (I4).
   */
  checkpoint(): Promise<void> {
    this.checkUsable();
    if (this.readOnly) return Promise.resolve();
    if (this.ckptRunning !== undefined) return this.ckptRunning.then(() => this.checkpoint());
    const run = this.runCheckpoint().catch((e: Error) => {
      this.panic(e);
      throw new RunRecoveryError(`checkpoint failed: ${e.message}`, { cause: e });
    });
    this.ckptRunning = run.finally(() => {
      this.ckptRunning = undefined;
    });
    return this.track(this.ckptRunning);
  }

  private backgroundCheckpoint(): void {
    if (this.ckptRunning !== undefined || this.closed || this.panicError) return;
    this.checkpoint().catch(() => {
      // the environment is panicked; callers see RunRecoveryError on their next call
    });
  }

  private timedCheckpoint(): void {
    if (Date.now() - this.lastCkptTime >= this.ckptMinutes * 60_000 && this.log.stats.bytes > this.logAtLastCkpt) this.backgroundCheckpoint();
  }

  private async runCheckpoint(): Promise<void> {
    // A write-back running finishes first (its pages are then in the files this checkpoint
    // fsyncs); none starts while the checkpoint runs (backgroundWriteBack).
    while (this.wbRunning !== undefined) await this.wbRunning;
    const log = this.log;
    let redo = log.end; // PLANT(ckpt-late-redo): `let` only for the planted bug below
    this.pager.epoch++;
    this.logAtLastCkpt = log.stats.bytes;
    this.logNeedsLog(redo);
    // Every data file's meta page is written after its other pages: a copy that reads a meta
    // page with this redo point reads the file's other pages as this checkpoint wrote them or later.
    const dirty = this.pager.collectDirty().sort((a, b) => (a.pgno === 0 ? 1 : 0) - (b.pgno === 0 ? 1 : 0));
    // Written across awaits and compared by markClean: none of its buffers may be recycled meanwhile (a
    // failure panics the environment, whose pager is then never used again: no finally needed).
    const letGo = this.pager.hold(dirty);
    // Through the internal transaction's commit: the meta pages it changed are among the dirty (I1).
    await log.flush(log.end);
    await this.writeDirty(planted('ckpt-skip-dirty') ? dirty.slice(0, -1) : dirty); // PLANT(ckpt-skip-dirty): the last dirty page is not written, yet marked clean below
    // Every data file written since its last fsync: by this checkpoint, or by write-backs since the
    // last one (their pages are clean now, and the checkpoint record says they need no log before
    // the redo point).
    for (const f of [...this.pager.unsynced]) {
      this.pager.unsynced.delete(f);
      if (f.removed || !this.pager.files.has(f.uid)) continue;
      const h = this.pager.handleOf(f, false); // a rename closed the handle: fsync the file under its new name
      if (h !== undefined) await h.syncAsync();
    }
    for (const d of dirty) this.pager.markClean(d.file, d.pgno, d.buf);
    letGo();
    // The data files changed: so does the map of the LSNs their pages carry (before the control
    // file names it: a crash between leaves the control file 'open', and recovery rebuilds it).
    const pageMapTag = redo;
    writePageMap(this.vfs, this.home, this.pager.lsns, this.envId, pageMapTag);
    if (planted('ckpt-late-redo')) redo = log.end; // PLANT(ckpt-late-redo)
    const files = [...this.pager.files.values()].filter((f) => !f.removed).map((f) => `${f.uid} ${f.name}`).join('\n');
    const ckp = log.append({ type: 'checkpoint', redo, prev: this.lastCkpt, time: Date.now(), durable: log.durableLsn, files });
    await log.flush();
    this.lastCkpt = ckp;
    this.lastCkptTime = Date.now();
    this.ckptCount++;
    this.control = { ...this.control, redo, checkpoint: ckp, nextTxn: this.nextTxn, lastCommit: this.lastCommit, pageMap: pageMapTag };
    writeControl(this.vfs, this.home, this.control);
    if (this.autoRemove) this.removeLogs(this.removableLogs());
  }

  /**
   * Writes pages whose LSNs the log is durable through (I1), in file and page order: runs of
   * adjacent pages of one file in one write (Pager.writePages), up to CHECKPOINT_RUN pages, with an
   * event-loop turn after every 256 pages or so. Pages of files removed meanwhile are skipped.
   */
  private async writeDirty(pages: ReadonlyArray<{ file: DataFile; pgno: number; buf: Buffer }>): Promise<void> {
    let n = 0;
    let run: Buffer[] = [];
    let runFile: DataFile | undefined;
    let runStart = 0;
    const writeRun = async (): Promise<void> => {
      if (run.length === 0) return;
      // Checked here, after the previous run's turn: a commit may have removed the file meanwhile,
      // or close() ended (its last checkpoint fsynced what was written; nothing may follow it).
      if (!this.closed && !runFile!.removed && this.pager.files.has(runFile!.uid)) this.pager.writePages(runFile!, runStart, run);
      const before = n;
      n += run.length;
      run = [];
      if (Math.floor(n / 256) !== Math.floor(before / 256)) await new Promise((r) => setImmediate(r));
    };
    for (const d of pages) {
      if (run.length > 0 && (d.file !== runFile || d.pgno !== runStart + run.length || run.length >= CHECKPOINT_RUN)) await writeRun();
      if (run.length === 0) {
        runFile = d.file;
        runStart = d.pgno;
      }
      run.push(d.buf);
    }
    await writeRun();
  }

  // ---- write-back ----------------------------------------------------------------------------

  /**
   * Starts a write-back unless one or a checkpoint runs. Dirty committed pages can leave the cache
   * only once written; a checkpoint writes them too, but each checkpoint makes the next change of
   * every page a full image (I4), so under a load that keeps the cache full of dirty pages,
   * checkpoints as often as memory asks would double the log. A write-back writes pages without
   * a redo point, an epoch or a record of its own.
   */
  private backgroundWriteBack(): void {
    if (this.wbRunning !== undefined || this.ckptRunning !== undefined || this.closed || this.panicError || this.readOnly) return;
    const run = this.runWriteBack().catch((e: Error) => this.panic(e));
    this.wbRunning = run.finally(() => {
      this.wbRunning = undefined;
    });
    void this.track(this.wbRunning);
  }

  /**
   * Writes the dirty pages changed longest ago (never a meta page: Pager.collectWriteBack) until a
   * quarter of the cache is dirty: the log made durable through the newest of them first, with one
   * flush for the batch (I1), then the pages written and marked clean unless a commit installed a
   * newer version meanwhile (buffers are immutable: Pager.markClean compares them). Their files
   * are fsynced by the next checkpoint, before its record claims them (Pager.unsynced). A crash
   * can tear a page written here: every dirty page changed after the last completed checkpoint's
   * redo point, so its first change after it was logged as a full image, and recovery, starting
   * there, rebuilds it (I4); a page written here and changed again gets deltas against the version
   * written, which recovery rebuilds the same way.
   */
  private async runWriteBack(): Promise<void> {
    const pager = this.pager;
    const keep = Math.floor(pager.cacheSize / this.pageSize / 4);
    const pages = pager.collectWriteBack(pager.dirtyPages - keep);
    if (pages.length === 0) return;
    const letGo = pager.hold(pages); // as a checkpoint's list (runCheckpoint)
    let newest = 0;
    for (const d of pages) if (d.lsn > newest) newest = d.lsn;
    if (!planted('wb-skip-log-flush')) await this.log.flush(newest); // PLANT(wb-skip-log-flush)
    if (this.closed) return letGo();
    await this.writeDirty(pages);
    for (const d of pages) pager.markClean(d.file, d.pgno, d.buf);
    letGo();
    pager.stats.writeBacks++;
    pager.stats.pagesWrittenBack += pages.length;
  }

  /**
   * Back-pressure: a commit that left more dirty pages than the whole cache budget waits until a
   * write-back (or the checkpoint running, which waits for none) brought them back under it. A
   * few rounds at most: pages a commit changes again while they are written stay dirty.
   */
  private async relieve(): Promise<void> {
    const over = (): boolean => this.pager.dirtyPages * this.pageSize > this.pager.cacheSize;
    for (let i = 0; i < 4 && over() && !this.closed && this.panicError === undefined; i++) {
      if (this.ckptRunning !== undefined) await this.ckptRunning.then(noop, noop);
      else {
        this.backgroundWriteBack();
        if (this.wbRunning === undefined) return;
        await this.wbRunning;
      }
    }
  }

  /**
   * The checkpoint's internal transaction (id INTERNAL_TXN): sets needsLog to the redo point in
   * the meta page of every data file of the environment, open or not, as a logged change (a torn
   * write of the meta page is then rebuilt from the log like any page: never an unlogged write).
   * A copy of a data file then carries the log it needs, and catastrophic recovery refuses a copy
   * without it (docs/BACKUP.md §No silent failover loss). Synchronous: no commit interleaves, so
   * it never rebases; it is not noted for CONFLICT checks (no user transaction reads needsLog: a
   * concurrent one that changed a meta page rebases onto it), nor counted as a commit.
   */
  private logNeedsLog(redo: Lsn): void {
    const files = this.checkpointFiles();
    const txn = new Transaction(this.pager, this, {});
    try {
      for (const file of files) {
        let meta: Buffer;
        try {
          meta = this.pager.read(file, 0, Infinity);
        } catch (e) {
          // A damaged or stale meta page (or one that cannot be read) is reported to whoever reads
          // the file, not by failing the checkpoint; its needsLog stays as it was (older: stricter),
          // and recovery trusts nothing in a damaged one.
          if (e instanceof CorruptionError || e instanceof IoError) continue;
          throw e;
        }
        // Recovery compares log file numbers only: a needsLog in the redo point's log file already
        // says what this one would (and earlier in it is stricter). Files are not rewritten at each
        // checkpoint, only when the log moved to another file.
        const had = readLsn(meta, MetaOffset.needsLog);
        if (had !== 0 && lsnFile(had) === lsnFile(redo)) continue;
        writeLsn(txn.writer(file).writable(0), MetaOffset.needsLog, redo);
      }
      if (!txn.hasChanges) return;
      const installs = this.logTxn(txn, INTERNAL_TXN);
      const seq = ++this.pager.seq;
      for (let i = 0; i < installs.length; i += 4) {
        this.pager.install(installs[i] as DataFile, installs[i + 1] as number, installs[i + 2] as Buffer, seq, installs[i + 3] as boolean);
      }
    } finally {
      txn.release();
    }
  }

  /** The data files a checkpoint records its redo point in: those open, and those in the data directories not opened yet (unless damaged or foreign: nothing is written to those). */
  private checkpointFiles(): DataFile[] {
    const paths = new Set<string>();
    for (const f of this.pager.files.values()) paths.add(f.path);
    for (const d of this.dirs.dataDirs.length > 0 ? this.dirs.dataDirs : [this.home]) {
      for (const n of this.vfs.readdir(d)) {
        const p = path.join(d, n);
        if (!isDataFileName(n) || paths.has(p) || this.resolveDataFile(n) !== p || this.vfs.stat(p)?.isDirectory !== false) continue;
        try {
          this.findFile(n);
        } catch (e) {
          if (!(e instanceof CairnError)) throw e;
        }
      }
    }
    return [...this.pager.files.values()].filter((f) => !f.removed);
  }

  // ---- log archival ------------------------------------------------------------------------

  /** Log files normal recovery no longer needs and no backup has pinned (I5), oldest first. */
  removableLogs(): number[] {
    const redoFile = lsnFile(this.control.redo);
    let minPin = Infinity;
    for (const f of this.pins.keys()) minPin = Math.min(minPin, f);
    const limit = Math.min(redoFile, minPin);
    if (planted('archive-needed-log')) return listLogFiles(this.vfs, this.dirs.logDir).filter((n) => n <= limit); // PLANT(archive-needed-log)
    return listLogFiles(this.vfs, this.dirs.logDir).filter((n) => n < limit);
  }

  private removeLogs(files: number[]): void {
    for (const n of files) this.vfs.unlink(path.join(this.dirs.logDir, logFileName(n)));
    if (files.length > 0) this.vfs.syncDir(this.dirs.logDir);
  }

  /** @internal Keeps log files from `fromFile` on from being removed until the returned function is called (I5). */
  pinLogs(fromFile: number): () => void {
    this.pins.set(fromFile, (this.pins.get(fromFile) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = this.pins.get(fromFile)! - 1;
      if (n === 0) this.pins.delete(fromFile);
      else this.pins.set(fromFile, n);
    };
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
    const { hotBackup } = await import('../backup/hotbackup.js');
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
    const { archive } = await import('../backup/archive.js');
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
    const w = this.writer;
    const l = w?.stats ?? { records: 0, bytes: 0, writes: 0, syncs: 0, files: 0 };
    const end = w?.end ?? this.control.end;
    const p = this.pager.stats;
    return {
      home: this.home,
      envId: this.envId.toString('hex'),
      log: {
        dir: this.dirs.logDir,
        file: lsnFile(end),
        offset: lsnOffset(end),
        end: formatLsn(end),
        durable: formatLsn(w?.durableLsn ?? end),
        fileSize: this.control.logFileSize,
        records: l.records,
        bytes: l.bytes,
        writes: l.writes,
        syncs: l.syncs,
        newFiles: l.files,
        retention: this.autoRemove ? 'recovery' : 'all',
        kept: keptLogs(listLogFiles(this.vfs, this.dirs.logDir), lsnFile(this.control.redo), this.pins.keys(), this.autoRemove),
      },
      txn: {
        nextId: this.nextTxn,
        ...this.counters,
        active: this.active.size,
        snapshots: this.pager.openSnapshots,
        lastCommit: this.lastCommit === undefined ? undefined : new Date(this.lastCommit),
        snapshotBytes: this.pager.historyBytes,
        oldSnapshots: this.pager.historyBytes <= this.snapshotWarnBytes ? [] : this.pager.snapshotReport().filter((r) => r.pinnedBytes > this.snapshotWarnBytes).map((r) => ({ ...r, commitsBehind: this.pager.seq - r.seq })),
        ...this.pager.snapshotStats,
      },
      cache: { size: this.pager.cacheSize, pageSize: this.pageSize, pages: this.pager.cachedPages, dirty: this.pager.dirtyPages, ...p },
      checkpoint: { count: this.ckptCount, last: formatLsn(this.lastCkpt), redo: formatLsn(this.control.redo), lastTime: this.ckptCount > 0 ? new Date(this.lastCkptTime) : undefined, running: this.ckptRunning !== undefined },
    };
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
    if (this.ckptTimer) clearInterval(this.ckptTimer);
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
        this.control = { ...this.control, state: 'closed', redo: end, end, nextTxn: this.nextTxn, lastCommit: this.lastCommit };
        writeControl(this.vfs, this.home, this.control);
      }
    } finally {
      this.closed = true;
      for (const db of this.databases) db.markClosed();
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
