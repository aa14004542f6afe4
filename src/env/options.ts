// The public options and reports of an environment, and the one table of their defaults
// (ENV_DEFAULTS: Environment.open, Environment.recover and db_stat use it).

import type { Progress } from '../util/progress.js';
import type { Encoding, KeyEncodingName, ValueEncodingName } from './encoding.js';
import type { DupMode } from '../btree/btree.js';
import type { Vfs } from '../io/vfs.js';
import { DEFAULT_LOG_BUFFER_SIZE, DEFAULT_LOG_FILE_SIZE, LOG_HEADER_SIZE, MIN_LOG_FILE_SIZE } from '../log/file.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE } from '../page/format.js';
import { DURABILITIES, type Durability } from '../txn/txn.js';
import { CairnError, invalid } from '../util/errors.js';
import { type ParsedDbConfig, configLine } from '../recovery/config.js';
import type { Descriptor } from './database.js';
import type { KeptLog } from '../log/retention.js';

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
  progress?: ((progress: Progress) => void) | undefined;
}

/** Options of `env.openDatabase`. */
export interface OpenDatabaseOptions<K = Buffer, V = Buffer> {
  /**
   * How keys are stored and returned: 'binary' (the default: bytes or strings in, Buffers out),
   * 'utf8' (K = string), 'ordered' (K = OrderedKey: numbers, strings, arrays of them, booleans
   * and null, stored so that they sort as the values do), or your own `Encoding<K>`. A
   * property of this handle, not of the file: open a database with the encoding it was written
   * with.
   */
  keyEncoding?: KeyEncodingName | Encoding<K> | undefined;
  /** How values are stored and returned: 'binary' (the default), 'utf8' (V = string), 'json' (V = your JSON type), or your own `Encoding<V>`. */
  valueEncoding?: ValueEncodingName | Encoding<V> | undefined;
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
  progress?: ((progress: Progress) => void) | undefined;
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
  progress?: ((progress: Progress) => void) | undefined;
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

/** The defaults of the options (docs/DESIGN.md §Checkpoints, README). */
export const ENV_DEFAULTS = {
  /** Page cache size in bytes. */
  cacheSize: 64 * 1024 * 1024,
  pageSize: DEFAULT_PAGE_SIZE,
  logFileSize: DEFAULT_LOG_FILE_SIZE,
  logBufferSize: DEFAULT_LOG_BUFFER_SIZE,
  durability: 'sync' as Durability,
  /** Automatic checkpoints: after this many KiB of log or minutes. */
  checkpointKbytes: 65536,
  checkpointMinutes: 5,
  autoRemoveLogs: true,
  /** Multiples of cacheSize (snapshotWarn, snapshotLimit). */
  snapshotWarn: 1,
  snapshotLimit: 8,
  /** snapshotLimit's floor when it is not given. */
  minHistoryLimit: 64 * 1024 * 1024,
  /** env.transaction() reruns of a conflicted fn. */
  retries: 100,
} as const;

/** The checks of `Environment.open`'s options that need no home (made before it is touched). */
export function checkOptions(options: EnvironmentOptions): void {
  if (options.durability !== undefined && !DURABILITIES.includes(options.durability)) {
    throw invalid(`durability must be one of ${DURABILITIES.join(', ')}, got ${String(options.durability)}`);
  }
  if (options.readOnly && (options.create || options.recover)) throw invalid('readOnly cannot be combined with create or recover');
  if (options.mode !== undefined && !(Number.isInteger(options.mode) && (options.mode & ~0o777) === 0 && (options.mode & 0o600) === 0o600)) {
    throw invalid(`mode must be a permission mode from 0o600 to 0o777 that lets the owner read and write (e.g. 0o640), got ${String(options.mode)}`);
  }
}

/** The options in force: DB_CONFIG's lines, else the option, else ENV_DEFAULTS; checked. */
export interface ResolvedOptions {
  logFileSize: number;
  logBufferSize: number;
  pageSize: number;
  cacheSize: number;
  durability: Durability;
  ckpt: { kbytes: number; minutes: number };
  /** Bytes of older page versions kept for snapshots (snapshotLimit). */
  historyLimit: number;
  /** stat().txn.oldSnapshots lists snapshots keeping more than this many bytes (snapshotWarn). */
  snapshotWarnBytes: number;
  autoRemove: boolean;
}

export function resolveOptions(options: EnvironmentOptions, cfg: ParsedDbConfig | undefined): ResolvedOptions {
  const logFileSize = cfg?.logFileSize ?? options.logFileSize ?? ENV_DEFAULTS.logFileSize;
  const logBufferSize = cfg?.logBufferSize ?? options.logBufferSize ?? ENV_DEFAULTS.logBufferSize;
  const pageSize = options.pageSize ?? ENV_DEFAULTS.pageSize;
  if (!(pageSize >= MIN_PAGE_SIZE && pageSize <= MAX_PAGE_SIZE && (pageSize & (pageSize - 1)) === 0)) {
    throw invalid(`pageSize must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}, got ${pageSize}`);
  }
  if (!(logFileSize >= MIN_LOG_FILE_SIZE && logFileSize >= 4 * pageSize + LOG_HEADER_SIZE && logFileSize < 2 ** 32)) {
    const what = `log file size must be at least ${MIN_LOG_FILE_SIZE} bytes and 4 pages, got ${logFileSize}`;
    // A value DB_CONFIG set is reported with its file and line (it wins over the option).
    if (cfg?.logFileSize !== undefined) throw new CairnError('CONFIG', `${configLine(cfg, 'logFileSize')}: set_lg_max: ${what}; fix that line`);
    throw invalid(what);
  }
  const cacheSize = cfg?.cacheSize ?? options.cacheSize ?? ENV_DEFAULTS.cacheSize;
  for (const k of ['snapshotWarn', 'snapshotLimit'] as const) {
    const v = options[k];
    if (v !== undefined && !(typeof v === 'number' && v > 0)) throw invalid(`${k} must be a number > 0 (a multiple of cacheSize), got ${String(v)}`);
  }
  const durability = cfg?.durability ?? options.durability ?? ENV_DEFAULTS.durability;
  const ckpt = options.checkpoint === false
    ? { kbytes: 0, minutes: 0 }
    : { kbytes: options.checkpoint?.kbytes ?? ENV_DEFAULTS.checkpointKbytes, minutes: options.checkpoint?.minutes ?? ENV_DEFAULTS.checkpointMinutes };
  // Default: 8 × the cache, and never under 64 MiB (a small cache must not cut short every snapshot).
  const historyLimit = options.snapshotLimit !== undefined ? options.snapshotLimit * cacheSize : Math.max(ENV_DEFAULTS.snapshotLimit * cacheSize, ENV_DEFAULTS.minHistoryLimit);
  return {
    logFileSize,
    logBufferSize,
    pageSize,
    cacheSize,
    durability,
    ckpt,
    historyLimit,
    snapshotWarnBytes: (options.snapshotWarn ?? ENV_DEFAULTS.snapshotWarn) * cacheSize,
    autoRemove: cfg?.autoRemoveLogs ?? options.autoRemoveLogs ?? ENV_DEFAULTS.autoRemoveLogs,
  };
}
