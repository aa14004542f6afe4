// The environment: a home directory with its log, data files, control file and owner lock
// (docs/DESIGN.md §Layers). Opening runs recovery when the last owner did not close cleanly.

import { randomBytes, randomInt } from 'node:crypto';
import * as path from 'node:path';
import { BTree, type DupMode } from '../btree/btree.js';
import { diffRanges, rangesOf } from '../btree/ranges.js';
import { DEFAULT_FILE_MODE, dirModeFor, nodeVfs } from '../io/node.js';
import type { Vfs } from '../io/vfs.js';
import {
  DEFAULT_LOG_BUFFER_SIZE,
  DEFAULT_LOG_FILE_SIZE,
  LOG_HEADER_SIZE,
  MIN_LOG_FILE_SIZE,
  logFileName,
  parseLogFileName,
} from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { PAGE_DELTA_FIXED, commitBody, formatRecoverTime, pageDeltaBody, pageImageBody } from '../log/records.js';
import { LogWriter } from '../log/writer.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE, PageOffset, PageType } from '../page/format.js';
import { MetaOffset, initMeta, readMeta } from '../page/meta.js';
import { DataFile, type FilePages, Pager, SnapshotReader, diffInto, inFile, initPageHeader } from '../page/pager.js';
import { PageLsnMap, pageMapPath, readPageMap, writePageMap } from '../page/lsnmap.js';
import { DURABILITIES, type Durability, INTERNAL_TXN, Transaction } from '../txn/txn.js';
import { ActiveTxns } from '../txn/forgotten.js';
import { CairnError, CorruptionError, IoError, RunRecoveryError, invalid } from '../util/errors.js';
import { type Lsn, formatLsn, lsnFile, lsnOffset, parseLsn, readLsn, writeLsn } from '../util/lsn.js';
import { type ParsedDbConfig, configLine, parseDbConfig } from './config.js';
import { type Control, readControl, writeControl, CONTROL_FILE } from './control.js';
import { checkHistory, checkHistoryChain, lastLogHeader, newHistory } from './history.js';
import { knownHistory } from '../log/file.js';
import { Database, type Descriptor, badDescriptorRoot, decodeDescriptor, encodeDescriptor } from './database.js';
import { type OwnerLock, foreignLogs, lockEnvironment } from './lock.js';
import { type Channel, startChannel } from './channel.js';
import { type RecoveryResult, checkAllPages, openDataFile, recover } from './recovery.js';
import { LOAD_TEMP_PREFIX, fileNameProblem, loadTempPid } from './names.js';
import { type KeptLog, checkLogNumbering, keptLogs } from './retention.js';
import { planted } from '../util/plant.js'; // PLANT: the planted-bug yardstick (src/util/plant.ts)

/** Options of `Environment.open`; a DB_CONFIG file in the home overrides them. */
export interface EnvironmentOptions {
  /** Create the home and a new environment if there is none. */
  create?: boolean | undefined;
  /** Default commit durability (DB_CONFIG's set_flags overrides, as in Berkeley DB). */
  durability?: Durability | undefined;
  /** Page cache size in bytes (default 64 MiB). */
  cacheSize?: number | undefined;
  /** Page size for new data files (default 4096). */
  pageSize?: number | undefined;
  /** Log file size (default 10 MiB; set_lg_max). */
  logFileSize?: number | undefined;
  /** Log buffer size (default 1 MiB; set_lg_bsize). */
  logBufferSize?: number | undefined;
  /**
   * Remove log files at each checkpoint once normal recovery no longer needs them and nothing
   * pinned them (default true). Failover copies made by hand and incremental backups need them
   * all: set false, or put `log_set_config DB_LOG_AUTO_REMOVE off` in DB_CONFIG (which wins).
   */
  autoRemoveLogs?: boolean | undefined;
  /**
   * A snapshot (transaction, iterator, cursor) keeping more than this many times cacheSize of
   * older page versions is listed in stat().txn.oldSnapshots (default 1).
   */
  snapshotWarn?: number | undefined;
  /**
   * Past this many times cacheSize of older page versions kept for snapshots, the oldest snapshot
   * is invalidated: its next step throws SNAPSHOT_TOO_OLD (default 8, and at least 64 MiB when
   * not given; Infinity: never).
   */
  snapshotLimit?: number | undefined;
  /** Run this recovery before opening: 'normal' is automatic when needed; 'catastrophic' replays every log file. */
  recover?: 'normal' | 'catastrophic' | undefined;
  /** Automatic checkpoints: after this many KiB of log or minutes (default 65536 KiB, 5 min); false: only on demand. */
  checkpoint?: { kbytes?: number | undefined; minutes?: number } | false;
  /**
   * Open for reading only: no log writer, no checkpoints, nothing written to the home (the
   * control file must say the environment was closed or recovered). For inspecting failover
   * copies and backups without touching their files.
   */
  readOnly?: boolean | undefined;
  /**
   * Permissions of the files and directories this environment creates (Berkeley DB's mode,
   * reduced by the umask): default 0o600, directories with the matching x bits (0o700). E.g.
   * 0o640 or 0o660 to share with the group.
   */
  mode?: number | undefined;
  /** Close a coordination-channel connection idle this long, in ms (default 60 000). */
  channelIdleMs?: number | undefined;
  /** The file system (tests pass a SimVfs). */
  vfs?: Vfs | undefined;
  /** Progress of recovery, if the open runs one: log bytes replayed of the log's total (src/util/progress.ts). */
  progress?: ((progress: import('../util/progress.js').Progress) => void) | undefined;
}

/** Options of `env.openDatabase`. */
export interface OpenDatabaseOptions {
  /** A named database inside the file (several may share one file). */
  name?: string | undefined;
  /** Create the database when it does not exist. */
  create?: boolean | undefined;
  /** With create: fail if the database exists. */
  exclusive?: boolean | undefined;
  /** Duplicate keys: 'sorted' (values in memcmp order) or 'unsorted' (insertion order). Set at creation. */
  duplicates?: DupMode | boolean | undefined;
  /** @internal Berkeley DB dump metadata to keep (db_load). */
  descriptor?: Partial<Descriptor> | undefined;
  /** @internal db_load's temporary file (`.db_load.<pid>.<name>`: names/LOAD_TEMP_PREFIX). */
  temporary?: boolean | undefined;
}

/** Options of `Environment.recover` (the API of `db_recover`). */
export interface RecoverOptions {
  /** Replay every log file from the first (for backups and failover copies). */
  catastrophic?: boolean | undefined;
  /** Recover to this time: later commits are not applied, and the later log is kept aside. */
  until?: Date | undefined;
  /** Recover to this LSN ("file/offset" or "[file][offset]"): transactions committed before it. */
  untilLsn?: string | undefined;
  /** @internal The file system (tests pass a SimVfs). */
  vfs?: Vfs | undefined;
  /** Progress: log bytes replayed of the log's total, phase 'recovery' (src/util/progress.ts). */
  progress?: ((progress: import('../util/progress.js').Progress) => void) | undefined;
}

/** What a recovery did (`Environment.recover`, `db_recover -v`). */
export interface RecoveryReport {
  /** Normal (from the last checkpoint's redo point) or catastrophic (every log file). */
  kind: 'normal' | 'catastrophic';
  /** The LSN recovery started reading at ("[file][offset]"). */
  start: string;
  /** The end of the log after recovery. */
  end: string;
  /** Transactions committed in the log read. */
  transactions: number;
  /** Time of the last commit applied. */
  lastCommit?: Date | undefined;
  /** Log bytes read. */
  logBytes: number;
  /** Pages a log record changed. */
  pagesRedone: number;
  /** With `until`: where the log files after the recovery point were moved. */
  keptLogDir?: string | undefined;
  /** Wall-clock time the recovery took. */
  durationMs: number;
}

/** `env.stat()`: figures of a live environment. */
export interface EnvironmentStat {
  /** The home directory. */
  home: string;
  /** The environment id in hex. */
  envId: string;
  /** The log: where it ends, what has been written and synced since open, and why each file is kept. */
  log: {
    dir: string; file: number; offset: number; end: string; durable: string; fileSize: number; records: number; bytes: number; writes: number; syncs: number; newFiles: number;
    /** 'recovery': checkpoints remove what recovery no longer needs (default); 'all': kept until db_archive moves them. */
    retention: 'recovery' | 'all';
    /** Every log file on disk, oldest first, with why it is kept (src/env/retention.ts). */
    kept: KeptLog[];
  };
  /** Transactions since open, and the snapshots open now with what they keep. */
  txn: {
    nextId: number; begun: number; commits: number; aborts: number; active: number; snapshots: number; lastCommit?: Date;
    /** Bytes of older page versions kept for open snapshots (beyond the cache). */
    snapshotBytes: number;
    /** Snapshots keeping more than snapshotWarn × cacheSize: sequence, holders, bytes kept, commits since. */
    oldSnapshots: Array<{ seq: number; holders: number; pinnedBytes: number; commitsBehind: number }>;
    /** Snapshot holders invalidated by snapshotLimit (SNAPSHOT_TOO_OLD), and released because they were garbage collected unreleased. */
    tooOld: number;
    reclaimed: number;
  };
  /** The page cache: its budget, content and traffic since open. */
  cache: { size: number; pageSize: number; pages: number; dirty: number; hits: number; misses: number; evictions: number; pagesWritten: number; writeBacks: number; pagesWrittenBack: number };
  /** Checkpoints since open, the last one and the redo point. */
  checkpoint: { count: number; last: string; redo: string; lastTime?: Date; running: boolean };
}

/** Options of `env.hotBackup` (the API of `db_hotbackup`). */
export interface HotBackupOptions {
  /** Checkpoint the source first (db_hotbackup -c). */
  checkpoint?: boolean | undefined;
  /** Refresh an existing backup: move inactive logs into it, copy active ones (db_hotbackup -u). */
  update?: boolean | undefined;
  /** Progress: bytes copied of the total, phase 'data' then 'logs', then the copy's 'recovery' (src/util/progress.ts). */
  progress?: ((progress: import('../util/progress.js').Progress) => void) | undefined;
  /** Recreate DB_CONFIG's directory layout in the target and copy DB_CONFIG (db_hotbackup -D); default 'flat'. */
  layout?: 'flat' | 'config' | undefined; // issue 3
  /** Keep every copied log file in the target after recovery (db_hotbackup -g). */
  keepLogs?: boolean | undefined; // issue 3
}

/** What a hot backup did. */
export interface HotBackupReport {
  /** The backup directory, absolute. */
  dir: string;
  /** Data files copied. */
  dataFiles: string[];
  /** Log files copied. */
  logsCopied: string[];
  /** Log files moved from the source (`update`: inactive logs). */
  logsMoved: string[];
  /** The source's log position when the copy began. */
  startLsn: string;
  /** The log position the backup is recovered to. */
  endLsn: string;
  /** Bytes copied. */
  bytes: number;
  /** Wall-clock time the backup took. */
  durationMs: number;
  /** The catastrophic recovery run on the copy. */
  recovery: RecoveryReport;
  /** The manifest written (__cairn.backup.json). */
  manifest: string; // issue 3
  /** Log files removed from the target after recovery (no longer needed). */
  logsRemoved: string[]; // issue 3
  /** Catastrophic recovery of the backup needs every log file from this LSN's file on. */
  requiredLsn: string; // issue 3
}

/** Options of `env.archive` (the API of `db_archive`). */
export interface ArchiveOptions {
  /** All log files (db_archive -l) instead of only the removable ones. */
  logs?: boolean | undefined;
  /** The database files (db_archive -s). */
  data?: boolean | undefined;
  /** Absolute paths (db_archive -a). */
  absolute?: boolean | undefined;
  /** Remove the removable log files (db_archive -d). */
  remove?: boolean | undefined;
}

interface Dirs {
  home: string;
  logDir: string;
  dataDirs: string[];
  createDir: string;
}

function loadConfig(vfs: Vfs, home: string): ParsedDbConfig | undefined {
  const p = path.join(home, 'DB_CONFIG');
  if (vfs.stat(p) === undefined) return undefined;
  return parseDbConfig(vfs.readFile(p).toString('utf8'), p);
}

function layout(home: string, cfg: ParsedDbConfig | undefined): Dirs {
  const dataDirs = (cfg?.dataDirs ?? []).map((d) => path.resolve(home, d));
  const createDir = cfg?.createDir !== undefined ? path.resolve(home, cfg.createDir) : (dataDirs[0] ?? home);
  return { home, logDir: cfg?.logDir !== undefined ? path.resolve(home, cfg.logDir) : home, dataDirs, createDir };
}

/** Where a data file of this name is (the first data directory holding it), or would be created. */
function resolveDataFile(vfs: Vfs, dirs: Dirs, name: string): string {
  const why = fileNameProblem(name); // callers check first; never a path out of the data directories
  if (why !== undefined) throw invalid(why);
  for (const d of dirs.dataDirs.length > 0 ? dirs.dataDirs : [dirs.home]) {
    const p = path.join(d, name);
    if (vfs.stat(p) !== undefined) return p;
  }
  return path.join(dirs.createDir, name);
}

/**
 * A home whose creation stopped before its control file was written: one log file, log.1, with a
 * valid header and no record or no header at all (zeros), and no data files. Nothing was ever
 * committed in it (the control file says 'open' before anything is).
 */
function unfinishedCreate(vfs: Vfs, dirs: Dirs, logs: number[]): boolean {
  if (logs.length !== 1 || logs[0] !== 1) return false;
  for (const d of dirs.dataDirs.length > 0 ? dirs.dataDirs : [dirs.home]) {
    for (const n of vfs.readdir(d)) if (isDataFileName(n) && vfs.stat(path.join(d, n))?.isDirectory === false) return false;
  }
  const reader = new LogReader(vfs, dirs.logDir);
  try {
    if (reader.header(1) === undefined) {
      const bytes = vfs.readFile(path.join(dirs.logDir, logFileName(1)));
      return bytes.every((b) => b === 0);
    }
    for (const _ of reader.records()) return false;
    return true;
  } catch {
    return false;
  }
}

/** For promises whose outcome is reported elsewhere. */
const noop = (): void => {};

/** The most pages a checkpoint writes with one call (256 KiB of 4 KiB pages). */
const CHECKPOINT_RUN = 64;

function isDataFileName(name: string): boolean {
  return !name.startsWith('__cairn') && name !== 'DB_CONFIG' && parseLogFileName(name) === undefined && !name.endsWith('.tmp');
}

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
    if (options.durability !== undefined && !DURABILITIES.includes(options.durability)) {
      throw invalid(`durability must be one of ${DURABILITIES.join(', ')}, got ${String(options.durability)}`);
    }
    if (options.readOnly && (options.create || options.recover)) throw invalid('readOnly cannot be combined with create or recover');
    if (options.mode !== undefined && !(Number.isInteger(options.mode) && (options.mode & ~0o777) === 0 && (options.mode & 0o600) === 0o600)) {
      throw invalid(`mode must be a permission mode from 0o600 to 0o777 that lets the owner read and write (e.g. 0o640), got ${String(options.mode)}`);
    }
    const st = vfs.stat(home);
    if (st === undefined) {
      if (!options.create) throw new CairnError('NOT_FOUND', `environment home ${home} does not exist; pass { create: true } to make one`);
      vfs.mkdir(home, { recursive: true, mode: dirModeFor(options.mode ?? DEFAULT_FILE_MODE) });
    } else if (!st.isDirectory) throw invalid(`environment home ${home} is not a directory`);
    const cfg = loadConfig(vfs, home);
    const dirs = layout(home, cfg);
    for (const d of cfg?.dataDirs ?? []) {
      const p = path.resolve(home, d);
      if (!vfs.stat(p)?.isDirectory) throw new CairnError('NOT_FOUND', `data directory ${p} named in ${configLine(cfg!, 'dataDirs', d)} does not exist; create it or fix DB_CONFIG`);
    }
    if (!vfs.stat(dirs.logDir)?.isDirectory) {
      if (!options.create) throw new CairnError('NOT_FOUND', `log directory ${dirs.logDir} named in ${cfg ? configLine(cfg, 'logDir', cfg.logDir) : 'DB_CONFIG'} does not exist; create it or fix DB_CONFIG`);
      vfs.mkdir(dirs.logDir, { recursive: true, mode: dirModeFor(options.mode ?? DEFAULT_FILE_MODE) });
    }
    const logFileSize = cfg?.logFileSize ?? options.logFileSize ?? DEFAULT_LOG_FILE_SIZE;
    const logBufferSize = cfg?.logBufferSize ?? options.logBufferSize ?? DEFAULT_LOG_BUFFER_SIZE;
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!(pageSize >= MIN_PAGE_SIZE && pageSize <= MAX_PAGE_SIZE && (pageSize & (pageSize - 1)) === 0)) {
      throw invalid(`pageSize must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}, got ${pageSize}`);
    }
    if (!(logFileSize >= MIN_LOG_FILE_SIZE && logFileSize >= 4 * pageSize + LOG_HEADER_SIZE && logFileSize < 2 ** 32)) {
      const what = `log file size must be at least ${MIN_LOG_FILE_SIZE} bytes and 4 pages, got ${logFileSize}`;
      // A value DB_CONFIG set is reported with its file and line (it wins over the option).
      if (cfg?.logFileSize !== undefined) throw new CairnError('CONFIG', `${configLine(cfg, 'logFileSize')}: set_lg_max: ${what}; fix that line`);
      throw invalid(what);
    }
    const cacheSize = cfg?.cacheSize ?? options.cacheSize ?? 64 * 1024 * 1024;
    for (const k of ['snapshotWarn', 'snapshotLimit'] as const) {
      const v = options[k];
      if (v !== undefined && !(typeof v === 'number' && v > 0)) throw invalid(`${k} must be a number > 0 (a multiple of cacheSize), got ${String(v)}`);
    }
    const durability = cfg?.durability ?? options.durability ?? 'sync';
    const ckpt = options.checkpoint === false ? { kbytes: 0, minutes: 0 } : { kbytes: options.checkpoint?.kbytes ?? 65536, minutes: options.checkpoint?.minutes ?? 5 };

    const lock = lockEnvironment(vfs, dirs, { readOnly: options.readOnly, mode: options.mode });
    let log: LogWriter | undefined;
    try {
      // Default: 8 × the cache, and never under 64 MiB (a small cache must not cut short every snapshot).
      const historyLimit = options.snapshotLimit !== undefined ? options.snapshotLimit * cacheSize : Math.max(8 * cacheSize, 64 * 1024 * 1024);
      const pager = new Pager(vfs, { cacheSize, historyLimit });
      let control = readControl(vfs, home);
      const logOpts = { envId: Buffer.alloc(16), fileSize: logFileSize, bufferSize: logBufferSize };
      if (control === undefined) {
        let logs = listLogFiles(vfs, dirs.logDir);
        if (unfinishedCreate(vfs, dirs, logs)) {
          // A creation that stopped before its control file (a crash, a failed fsync): nothing was
          // ever committed in it, so it is made again from scratch.
          if (!options.create || options.readOnly) throw new CairnError('NOT_FOUND', `${home} is an environment whose creation did not finish (no ${CONTROL_FILE}, a log with no records, no data files); open it with { create: true } to make it again`);
          for (const n of logs) vfs.unlink(path.join(dirs.logDir, logFileName(n)));
          vfs.syncDir(dirs.logDir);
          logs = [];
        }
        if (options.readOnly && (logs.length > 0 || !options.create)) {
          throw new RunRecoveryError(`${home} has no ${CONTROL_FILE}; run db_recover -c -h ${home} before opening it read-only`);
        }
        if (logs.length > 0) {
          if (options.recover !== 'catastrophic') {
            if (foreignLogs(vfs, dirs)) throw new CairnError('CONFIG', `${home} has no ${CONTROL_FILE}, and its log directory ${dirs.logDir} (set_lg_dir in DB_CONFIG) holds another environment's logs; give this environment its own log directory`);
            throw new RunRecoveryError(`${home} has log files but no ${CONTROL_FILE} (a copy or backup that was never recovered); run db_recover -c -h ${home} (catastrophic recovery) first`);
          }
          control = runRecovery(vfs, dirs, pager, undefined, 'catastrophic', {}, options.progress).control;
        } else {
          if (!options.create) throw new CairnError('NOT_FOUND', `${home} is not a cairn environment (no ${CONTROL_FILE}); pass { create: true } to make one`);
          const envId = randomBytes(16);
          const history = newHistory();
          try {
            log = LogWriter.create(vfs, dirs.logDir, { ...logOpts, envId, history });
          } catch (e) {
            if (!(e instanceof IoError && cfg?.logDir !== undefined)) throw e;
            throw new CairnError('IO', `cannot create the first log file in ${dirs.logDir}, the log directory named in ${configLine(cfg, 'logDir', cfg.logDir)} (${e.message}); fix that line or the directory`, { cause: e });
          }
          writePageMap(vfs, home, pager.lsns, envId, log.end);
          control = { version: 1, envId: envId.toString('hex'), state: 'open', redo: log.end, checkpoint: 0, end: log.end, nextTxn: 1, logFileSize, pageMap: log.end, history: history.toString('hex') };
        }
      } else {
        const wantCatastrophic = options.recover === 'catastrophic';
        if (control.state === 'recovering' && control.recovery === 'catastrophic' && !wantCatastrophic) {
          throw new RunRecoveryError(`a catastrophic recovery of ${home} did not finish; run db_recover -c -h ${home} again before opening`);
        }
        if (wantCatastrophic) {
          control = runRecovery(vfs, dirs, pager, control, 'catastrophic', {}, options.progress).control;
        } else if (control.state !== 'closed' || lock.staleOwner !== undefined || options.recover === 'normal') {
          if (options.readOnly) throw new RunRecoveryError(`${home} needs recovery (it was not closed cleanly); open it read-write or run db_recover -h ${home} first`);
          control = runRecovery(vfs, dirs, pager, control, 'normal', {}, options.progress).control;
        } else {
          checkHistory(vfs, dirs.logDir, control);
          const reader = new LogReader(vfs, dirs.logDir, Buffer.from(control.envId, 'hex'));
          const end = reader.files.length > 0 ? reader.findEnd(control.end) : undefined;
          if (end !== control.end) {
            throw new RunRecoveryError(
              `the log of ${home} changed since it was last closed or recovered (end ${end === undefined ? 'missing' : formatLsn(end)}, expected ${formatLsn(control.end)}); run db_recover -c -h ${home} to apply the new log files`,
            );
          }
          pager.lsns = loadPageMap(vfs, home, control);
        }
      }
      const envId = Buffer.from(control.envId, 'hex');
      if (options.readOnly) {
        return new Environment({ home, vfs, dirs, envId, durability, pageSize, pager, log: undefined, lock, control, autoRemove: false, ckptKbytes: 0, ckptMinutes: 0 });
      }
      if (log === undefined) {
        const files = listLogFiles(vfs, dirs.logDir);
        log = files.length === 0
          ? LogWriter.create(vfs, dirs.logDir, { ...logOpts, envId, history: control.history !== undefined ? Buffer.from(control.history, 'hex') : newHistory() }, lsnFile(control.end) || 1)
          : LogWriter.resume(vfs, dirs.logDir, { ...logOpts, envId, fileSize: control.logFileSize ?? logFileSize }, control.end);
      }
      if (control.fork === true) {
        // The first read-write open after catastrophic recovery: a copy becoming a primary. It
        // starts a new history at a new log file, so that the old primary's log files can never be
        // replayed over it (docs/BACKUP.md §No silent failover loss). The control file says 'open'
        // first: a crash after the new file is made runs recovery, which adopts that file's history.
        writeControl(vfs, home, { ...control, state: 'open', recovery: undefined, logFileSize: control.logFileSize ?? logFileSize });
        const forkedAt = log.end;
        log.fork(newHistory());
        control = { ...control, history: log.history.toString('hex'), forkedAt, fork: undefined };
      } else if (control.history === undefined && knownHistory(log.history)) {
        control = { ...control, history: log.history.toString('hex') };
      }
      control = { ...control, state: 'open', recovery: undefined, logFileSize: control.logFileSize ?? logFileSize };
      writeControl(vfs, home, control);
      const env = new Environment({
        home,
        vfs,
        dirs,
        envId,
        durability,
        pageSize,
        pager,
        log,
        lock,
        control,
        autoRemove: cfg?.autoRemoveLogs ?? options.autoRemoveLogs ?? true,
        ckptKbytes: ckpt.kbytes,
        ckptMinutes: ckpt.minutes,
      });
      env.snapshotWarnBytes = (options.snapshotWarn ?? 1) * cacheSize;
      env.wire();
      await env.removeLoadTemps();
      // The channel is a real socket in the home: only for environments on the real file system.
      if (vfs === nodeVfs) {
        env.channel = startChannel(env, { idleMs: options.channelIdleMs });
        // Bound and made private (0600) before anyone can use the environment.
        await env.channel.ready();
      }
      return env;
    } catch (e) {
      log?.close();
      lock.release();
      throw e;
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
    const vfs = options.vfs ?? nodeVfs;
    home = path.resolve(home);
    if (!vfs.stat(home)?.isDirectory) throw new CairnError('NOT_FOUND', `environment home ${home} does not exist`);
    const dirs = layout(home, loadConfig(vfs, home));
    const lock = lockEnvironment(vfs, dirs);
    try {
      let control: Control | undefined;
      try {
        control = readControl(vfs, home);
      } catch (e) {
        // A damaged control file is rebuilt from the logs by catastrophic recovery (as its error advises).
        if (!(options.catastrophic && e instanceof CorruptionError)) throw e;
        control = undefined;
      }
      const kind = options.catastrophic || control === undefined ? 'catastrophic' : 'normal';
      // issue 3 (I7): a backup whose first log file is later than its manifest's recorded start is refused, unchanged.
      if (kind === 'catastrophic') (await import('../backup/manifest.js')).checkBackupLogs(vfs, home);
      const t0 = performance.now();
      const pager = new Pager(vfs, { cacheSize: 64 * 1024 * 1024 });
      let untilLsn: Lsn | undefined;
      if (options.untilLsn !== undefined) {
        untilLsn = parseLsn(options.untilLsn);
        if (untilLsn === undefined) throw invalid(`untilLsn must look like 3/1200 or [3][1200], got "${options.untilLsn}"`);
      }
      if (options.until !== undefined && !(options.until instanceof Date && !Number.isNaN(options.until.getTime()))) throw invalid('until must be a valid Date');
      const out = runRecovery(vfs, dirs, pager, control, kind, { untilTime: options.until?.getTime(), untilLsn }, options.progress);
      const r = out.result;
      for (const f of pager.files.values()) f.handle?.close();
      return {
        kind,
        start: formatLsn(r.start),
        end: formatLsn(r.end),
        transactions: r.committed,
        lastCommit: r.lastCommit === undefined ? undefined : new Date(r.lastCommit),
        logBytes: r.logBytes,
        pagesRedone: r.pagesRedone,
        keptLogDir: out.keptLogDir,
        durationMs: performance.now() - t0,
      };
    } finally {
      lock.release();
    }
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
    const retries = options.retries ?? 100;
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

/**
 * The page LSN map of a closed environment: it must be the one the control file names (written
 * by the last checkpoint or recovery), or the data files and the map are from different times.
 */
function loadPageMap(vfs: Vfs, home: string, control: Control): PageLsnMap {
  const found = readPageMap(vfs, home);
  if (control.pageMap === undefined) return found?.map ?? new PageLsnMap();
  if (found === undefined) {
    throw new RunRecoveryError(`${pageMapPath(home)} is missing (the control file names the one written at ${formatLsn(control.pageMap)}); run db_recover -c -h ${home} to rebuild it from the logs`);
  }
  if (found.tag !== control.pageMap || !found.envId.equals(Buffer.from(control.envId, 'hex'))) {
    throw new RunRecoveryError(
      `${pageMapPath(home)} is not the page LSN map of this environment's data files (written at ${formatLsn(found.tag)}, the control file names ${formatLsn(control.pageMap)}); run db_recover -c -h ${home} to rebuild it from the logs`,
    );
  }
  return found.map;
}

/**
 * Runs recovery in a directory and writes the control file around it: 'recovering' first (so
 * a recovery that stops half way is noticed: I7), 'closed' with the new redo point after.
 */
function runRecovery(
  vfs: Vfs,
  dirs: Dirs,
  pager: Pager,
  control: Control | undefined,
  kind: 'normal' | 'catastrophic',
  opts: { untilTime?: number; untilLsn?: Lsn },
  progress?: (p: import('../util/progress.js').Progress) => void,
): { control: Control; result: RecoveryResult; keptLogDir?: string } {
  const files = listLogFiles(vfs, dirs.logDir);
  if (files.length === 0) throw new CairnError('NOT_FOUND', `no log files in ${dirs.logDir}: nothing to recover from`);
  if (kind === 'catastrophic') checkLogNumbering(vfs, dirs.logDir);
  let envId: Buffer;
  if (control !== undefined) envId = Buffer.from(control.envId, 'hex');
  else {
    const h = new LogReader(vfs, dirs.logDir).header(files[0]!);
    if (h === undefined) throw new CairnError('CORRUPT', `${path.join(dirs.logDir, logFileName(files[0]!))}: log file header is damaged`);
    envId = h.envId;
  }
  const first = new LogReader(vfs, dirs.logDir).header(files[0]!);
  const logFileSize = control?.logFileSize ?? first?.fileSize ?? DEFAULT_LOG_FILE_SIZE;
  if (!(logFileSize >= MIN_LOG_FILE_SIZE && logFileSize < 2 ** 32)) {
    throw new CorruptionError(path.join(dirs.logDir, logFileName(files[0]!)), 16, `log file header gives a log file size of ${logFileSize} bytes, less than ${MIN_LOG_FILE_SIZE}`);
  }
  let base: Control = control ?? { version: 1, envId: envId.toString('hex'), state: 'closed', redo: 0, checkpoint: 0, end: 0, nextTxn: 1, logFileSize };
  const marker: Control = { ...base, state: 'recovering', recovery: kind };
  // A log of another history (an old primary's, copied over a failed-over copy) is refused,
  // before the directory is marked (a normal open checks the history too). Without a control
  // file the history is the log's own.
  if (control !== undefined) base = checkHistory(vfs, dirs.logDir, base);
  else {
    const last = lastLogHeader(vfs, dirs.logDir)?.header.history;
    if (knownHistory(last)) base = { ...base, history: last.toString('hex') };
  }
  checkHistoryChain(vfs, dirs.logDir);
  const ctx = {
    vfs,
    pager,
    logDir: dirs.logDir,
    envId,
    resolve: (name: string) => resolveDataFile(vfs, dirs, name),
    listDataFiles: () => {
      const out = new Map<string, string>();
      for (const d of dirs.dataDirs.length > 0 ? dirs.dataDirs : [dirs.home]) {
        for (const n of vfs.readdir(d)) {
          const p = path.join(d, n);
          if (isDataFileName(n) && !out.has(n) && vfs.stat(p)?.isDirectory === false) out.set(n, p);
        }
      }
      return out;
    },
    progress,
  };
  let keptLogDir: string | undefined;
  let untilLsn: Lsn | undefined = opts.untilLsn;
  if (opts.untilTime !== undefined) untilLsn = findStopPoint(vfs, dirs.logDir, envId, opts.untilTime);
  if (untilLsn !== undefined && base.forkedAt !== undefined && untilLsn < base.forkedAt) {
    // The log before the fork is the old primary's history: stopping there would leave a log
    // that this control file's history refuses. Refused before anything changes.
    throw new CairnError('INVALID_ARGUMENT', `the recovery point ${formatLsn(untilLsn)} is before this environment's failover at ${formatLsn(base.forkedAt)}, in the old primary's history; choose a point after the failover, or recover a backup of the old primary to that point instead`);
  }
  if (untilLsn !== undefined) {
    // Redo-only recovery cannot take pages back in time: the data files must predate the point.
    checkAllPages(pager, ctx, untilLsn, 'the data files are newer than the recovery point; restore data files from a backup made before it, then recover to the time again');
  }
  const from = kind === 'normal' ? base.redo || undefined : undefined;
  // Recovery starts from the page LSN map written with the data files' last change; catastrophic
  // recovery, the way to rebuild a damaged or lost map, goes on without one it cannot trust
  // (pages no replayed record touches are then not checked for staleness).
  let found: ReturnType<typeof readPageMap>;
  try {
    found = readPageMap(vfs, dirs.home);
    if (found !== undefined && control?.pageMap !== undefined && found.tag < control.pageMap) {
      throw new CorruptionError(pageMapPath(dirs.home), 32, `page LSN map is older (${formatLsn(found.tag)}) than the one the control file names (${formatLsn(control.pageMap)}): an old copy was put back; run db_recover -c -h ${dirs.home}`);
    }
  } catch (e) {
    if (kind !== 'catastrophic' || !(e instanceof CorruptionError)) throw e;
    found = undefined;
  }
  if (found !== undefined && found.envId.equals(envId)) pager.lsns = found.map;
  // 'recovering' once the checks that refuse without changing anything have passed (recover()
  // calls onStart before its first change): a refused recovery leaves the directory as it was.
  const onStart = () => writeControl(vfs, dirs.home, marker);
  const result = recover(ctx, { from, untilLsn, checkAllPages: kind === 'catastrophic', onStart });
  writePageMap(vfs, dirs.home, pager.lsns, envId, result.end);
  if (untilLsn !== undefined && result.stoppedAt !== undefined) keptLogDir = keepLaterLog(vfs, dirs, result.stoppedAt);
  // The redo point never promises more than the data files' meta pages say they need (needsLog,
  // set by the checkpoints): archival and backups start from it, and a copy with the logs from
  // there on must be accepted. Redo from an earlier point is idempotent.
  let redo = result.end;
  for (const [name, p] of ctx.listDataFiles()) {
    const need = openDataFile(vfs, name, p, envId)?.needsLog ?? 0;
    if (need > 0 && need < redo) redo = need;
  }
  redo = Math.max(redo, files[0]! * 0x1_0000_0000 + LOG_HEADER_SIZE);
  const next: Control = {
    ...base,
    state: 'closed',
    recovery: undefined,
    redo,
    end: result.end,
    checkpoint: result.lastCheckpoint || base.checkpoint,
    nextTxn: result.maxTxn >= 0xffff_fff0 ? 1 : Math.max(base.nextTxn, result.maxTxn + 1), // ids wrap as commitTxn's do
    lastCommit: result.lastCommit ?? base.lastCommit,
    logFileSize,
    pageMap: result.end,
    // A copy recovered catastrophically starts a new history when it is first opened read-write.
    fork: kind === 'catastrophic' ? true : base.fork,
  };
  writeControl(vfs, dirs.home, next);
  return { control: next, result, keptLogDir };
}

/** The LSN of the first record of the first transaction that committed after `time`. */
function findStopPoint(vfs: Vfs, logDir: string, envId: Buffer, time: number): Lsn | undefined {
  const reader = new LogReader(vfs, logDir, envId);
  let txnStart: Lsn | undefined;
  let txn = -1;
  let seenCommit = false;
  for (const raw of reader.records()) {
    const rec = reader.decode(raw);
    if (rec.type === 'checkpoint') continue;
    if (rec.type === 'commit' && rec.txn === INTERNAL_TXN) {
      // A checkpoint's own transaction is no commit to stop at.
      txn = -1;
      txnStart = undefined;
    } else if (rec.type === 'commit') {
      if (rec.time > time) {
        if (!seenCommit) {
          throw new CairnError('INVALID_ARGUMENT', `recovery time ${formatRecoverTime(time)} is before the earliest commit in the log (${formatRecoverTime(rec.time)}); choose a later time`);
        }
        return rec.txn === txn && txnStart !== undefined ? txnStart : raw.lsn;
      }
      seenCommit = true;
      txn = -1;
      txnStart = undefined;
    } else if (rec.txn !== txn) {
      txn = rec.txn;
      txnStart = raw.lsn;
    }
  }
  return undefined;
}

/**
 * Recovery to a time keeps the later history: log files after the stop point are moved, and
 * the file holding it copied, into __cairn.after-<time>/ in the log directory; then the log
 * is cut at the stop point so nothing later is replayed by accident.
 */
function keepLaterLog(vfs: Vfs, dirs: Dirs, stop: Lsn): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const keep = path.join(dirs.logDir, `__cairn.after-${stamp}`);
  vfs.mkdir(keep, { recursive: true });
  const stopFile = lsnFile(stop);
  for (const n of listLogFiles(vfs, dirs.logDir)) {
    if (n < stopFile) continue;
    const from = path.join(dirs.logDir, logFileName(n));
    const to = path.join(keep, logFileName(n));
    if (n === stopFile) {
      const data = vfs.readFile(from);
      const h = vfs.open(to, { create: true });
      h.write(data, 0);
      h.sync();
      h.close();
      const lh = vfs.open(from);
      const zeros = Buffer.alloc(data.length - lsnOffset(stop));
      lh.write(zeros, lsnOffset(stop));
      lh.sync();
      lh.close();
    } else vfs.rename(from, to);
  }
  vfs.syncDir(keep);
  vfs.syncDir(dirs.logDir);
  return keep;
}

