// DB_CONFIG: Berkeley DB's per-environment text configuration (bdb-semantics.md §7), parsed the
// way BDB 5.3's env_config.c does, so that one file configures cairn and real Berkeley DB alike.
//
//   * one `NAME ARG…` per line, split on whitespace; trailing whitespace ignored;
//   * empty lines, and lines that start with whitespace or '#', are ignored;
//   * names and flag names are case-insensitive (BDB uses strcasecmp); arguments count exactly;
//   * sizes are unsigned decimal integers (BDB: strtoul base 10, range-checked).
//
// Directives cairn honours fill EnvConfig. Directives Berkeley DB knows but that mean nothing
// to cairn (lock table sizes, mutexes, timeouts, replication, …) are checked for their
// argument count and listed in `ignored`, so a file written for BDB still opens. Anything else
// is a CairnError('CONFIG') naming the file, the line and what to do: a typo in DB_CONFIG must
// never be silently dropped, since the directory layout it describes decides where recovery
// looks for logs (bdb-semantics.md §7: BDB's db_recover "succeeded" on the wrong directory).
//
// Relative directories are relative to the environment home; absolute ones and '..' are
// allowed, but a copy of the environment (backup, failover) keeps pointing at an absolute
// directory, so each one is reported in `warnings`.

import { CairnError } from '../util/errors.js';

export type Durability = 'sync' | 'write-nosync' | 'nosync';

export interface EnvConfig {
  /** Directories searched for database files, in order (set_data_dir / add_data_dir). */
  dataDirs: string[];
  /** Where new databases are created; one of dataDirs (set_create_dir). */
  createDir?: string;
  /** Directory of the log files (set_lg_dir). */
  logDir?: string;
  /** Maximum size of one log file, bytes (set_lg_max). */
  logFileSize?: number;
  /** In-memory log buffer, bytes (set_lg_bsize). */
  logBufferSize?: number;
  /** Cache size, bytes: gbytes × 2^30 + bytes (set_cachesize). */
  cacheSize?: number;
  /** Commit durability (set_flags DB_TXN_NOSYNC / DB_TXN_WRITE_NOSYNC). */
  durability?: Durability;
  /** Remove log files as soon as they are no longer needed (log_set_config DB_LOG_AUTO_REMOVE). */
  autoRemoveLogs?: boolean;
}

export interface ParsedDbConfig extends EnvConfig {
  /** Directives accepted but without effect in cairn, as `line N: <text>`. */
  ignored: string[];
  /** Things that are legal but deserve the operator's attention, as `line N: <text>`. */
  warnings: string[];
}

const UINT32_MAX = 4294967295;

/** Where each value of a parsed DB_CONFIG was set: the file and, per field (and per directory), the line. */
export interface ConfigSource {
  file: string;
  lines: Partial<Record<keyof EnvConfig, number>>;
  /** Line of each directory named by set_data_dir / add_data_dir / set_create_dir / set_lg_dir. */
  dirLines: Map<string, number>;
}

// Kept beside the parsed object, not in it: ParsedDbConfig stays the plain EnvConfig it always was.
const sources = new WeakMap<ParsedDbConfig, ConfigSource>();

/** The file and line that set `field` (or, with `dir`, named that directory), as "FILE line N", for messages about a value DB_CONFIG set. */
export function configLine(cfg: ParsedDbConfig, field: keyof EnvConfig, dir?: string): string {
  const src = sources.get(cfg);
  if (src === undefined) return 'DB_CONFIG';
  const no = dir !== undefined ? src.dirLines.get(dir) : src.lines[field];
  return no === undefined ? src.file : `${src.file} line ${no}`;
}

/** Directives BDB 5.3 accepts that cairn ignores: name → [min, max] arguments. */
const IGNORED: Record<string, [number, number]> = {
  db_tmp_dir: [1, 1],
  mutex_set_align: [1, 1],
  mutex_set_increment: [1, 1],
  mutex_set_init: [1, 1],
  mutex_set_max: [1, 1],
  mutex_set_tas_spins: [1, 1],
  rep_set_clockskew: [2, 2],
  rep_set_config: [1, 2],
  rep_set_limit: [2, 2],
  rep_set_nsites: [1, 1],
  rep_set_priority: [1, 1],
  rep_set_request: [2, 2],
  rep_set_timeout: [2, 2],
  repmgr_set_ack_policy: [1, 1],
  repmgr_site: [2, 8],
  set_cache_max: [2, 2],
  set_data_len: [1, 1],
  set_intermediate_dir: [1, 1],
  set_intermediate_dir_mode: [1, 1],
  set_lg_filemode: [1, 1],
  set_lg_regionmax: [1, 1],
  set_lk_detect: [1, 1],
  set_lk_max_lockers: [1, 1],
  set_lk_max_locks: [1, 1],
  set_lk_max_objects: [1, 1],
  set_lk_partitions: [1, 1],
  set_lk_tablesize: [1, 1],
  set_lock_timeout: [1, 1],
  set_memory_init: [2, 2],
  set_memory_max: [2, 2],
  set_metadata_dir: [1, 1],
  set_mp_max_openfd: [1, 1],
  set_mp_max_write: [2, 2],
  set_mp_mmapsize: [1, 1],
  set_mp_mtxcount: [1, 1],
  set_mp_pagesize: [1, 1],
  set_open_flags: [1, 2],
  set_reg_timeout: [1, 1],
  set_region_init: [1, 1],
  set_shm_key: [1, 1],
  set_tas_spins: [1, 1],
  set_thread_count: [1, 1],
  set_tmp_dir: [1, 1],
  set_tx_max: [1, 1],
  set_txn_timeout: [1, 1],
  set_verbose: [1, 2],
};

/** The directives cairn acts on: name (lower case) → [min, max] arguments and usage. */
const HONOURED: Record<string, [number, number, string]> = {
  set_data_dir: [1, 1, 'set_data_dir DIR'],
  db_data_dir: [1, 1, 'db_data_dir DIR'],
  add_data_dir: [1, 1, 'add_data_dir DIR'],
  set_create_dir: [1, 1, 'set_create_dir DIR'],
  set_lg_dir: [1, 1, 'set_lg_dir DIR'],
  db_log_dir: [1, 1, 'db_log_dir DIR'],
  set_lg_max: [1, 1, 'set_lg_max BYTES, e.g. "set_lg_max 10485760"'],
  set_lg_bsize: [1, 1, 'set_lg_bsize BYTES, e.g. "set_lg_bsize 32768"'],
  set_cachesize: [3, 3, 'set_cachesize GBYTES BYTES NCACHE, e.g. "set_cachesize 0 8388608 1"'],
  set_flags: [1, 2, 'set_flags FLAG [on|off], e.g. "set_flags DB_TXN_WRITE_NOSYNC"'],
  log_set_config: [1, 2, 'log_set_config FLAG [on|off], e.g. "log_set_config DB_LOG_AUTO_REMOVE"'],
};

/** The EnvConfig field each honoured directive sets (the line recorded for messages: configLine). */
const FIELD: Record<string, keyof EnvConfig> = {
  set_data_dir: 'dataDirs',
  db_data_dir: 'dataDirs',
  add_data_dir: 'dataDirs',
  set_create_dir: 'createDir',
  set_lg_dir: 'logDir',
  db_log_dir: 'logDir',
  set_lg_max: 'logFileSize',
  set_lg_bsize: 'logBufferSize',
  set_cachesize: 'cacheSize',
};

/** set_flags flags BDB 5.3 knows and cairn ignores (lower case). */
const IGNORED_FLAGS = new Set([
  'db_auto_commit', 'db_cdb_alldb', 'db_direct_db', 'db_dsync_db', 'db_multiversion',
  'db_nolocking', 'db_nommap', 'db_nopanic', 'db_overwrite', 'db_region_init',
  'db_time_notgranted', 'db_txn_nowait', 'db_txn_snapshot', 'db_yieldcpu', 'db_log_inmemory',
  'db_direct_log', 'db_dsync_log', 'db_hotbackup_in_progress', 'db_mpool_aio',
]);

/** log_set_config flags cairn ignores (lower case). */
const IGNORED_LOG_FLAGS = new Set([
  'db_log_direct', 'db_log_dsync', 'db_log_in_memory', 'db_log_zero',
]);

interface Line {
  no: number;
  text: string;
  name: string;
  args: string[];
}

class Parser {
  readonly cfg: ParsedDbConfig = { dataDirs: [], ignored: [], warnings: [] };
  readonly #file: string;
  readonly source: ConfigSource;
  #createDirLine = 0;
  #lgMaxLine = 0;

  constructor(file: string) {
    this.#file = file;
    this.source = { file, lines: {}, dirLines: new Map() };
  }

  fail(line: Line | number, what: string): CairnError {
    const no = typeof line === 'number' ? line : line.no;
    return new CairnError('CONFIG', `${this.#file} line ${no}: ${what}`);
  }

  size(line: Line, arg: string, min = 1): number {
    if (!/^\d+$/.test(arg) || Number(arg) > UINT32_MAX) {
      throw this.fail(line, `${line.name}: "${arg}" is not a size; write it in bytes as a ` +
        `decimal integer from ${min} to ${UINT32_MAX}`);
    }
    const value = Number(arg);
    if (value < min) {
      throw this.fail(line, `${line.name}: ${value} is too small; the minimum is ${min}`);
    }
    return value;
  }

  onOff(line: Line): boolean {
    const arg = line.args[1];
    if (arg === undefined || arg.toLowerCase() === 'on') return true;
    if (arg.toLowerCase() === 'off') return false;
    throw this.fail(line, `${line.name}: expected "on" or "off" after the flag, found "${arg}"`);
  }

  dir(line: Line): string {
    const dir = line.args[0]!;
    if (dir.startsWith('/') || /^[A-Za-z]:[\\/]/.test(dir)) {
      this.cfg.warnings.push(`line ${line.no}: ${line.name} ${dir} is absolute; a backup or ` +
        'failover copy of this environment will still use that directory');
    }
    if (!this.source.dirLines.has(dir)) this.source.dirLines.set(dir, line.no);
    return dir;
  }

  directive(line: Line): void {
    const cfg = this.cfg;
    const lines = this.source.lines;
    const key = FIELD[line.name];
    if (key !== undefined) lines[key] = line.no;
    switch (line.name) {
      case 'set_data_dir':
      case 'db_data_dir':
      case 'add_data_dir': {
        const dir = this.dir(line);
        if (!cfg.dataDirs.includes(dir)) cfg.dataDirs.push(dir);
        return;
      }
      case 'set_create_dir':
        cfg.createDir = this.dir(line);
        this.#createDirLine = line.no;
        return;
      case 'set_lg_dir':
      case 'db_log_dir':
        cfg.logDir = this.dir(line);
        return;
      case 'set_lg_max':
        cfg.logFileSize = this.size(line, line.args[0]!);
        this.#lgMaxLine = line.no;
        return;
      case 'set_lg_bsize':
        cfg.logBufferSize = this.size(line, line.args[0]!);
        return;
      case 'set_cachesize':
        this.cachesize(line);
        return;
      case 'set_flags':
        this.setFlags(line);
        return;
      case 'log_set_config':
        this.logSetConfig(line);
        return;
    }
  }

  cachesize(line: Line): void {
    const gbytes = this.size(line, line.args[0]!, 0);
    const bytes = this.size(line, line.args[1]!, 0);
    const ncache = line.args[2]!;
    if (!/^\d+$/.test(ncache)) {
      throw this.fail(line, `set_cachesize: NCACHE "${ncache}" is not a number; write 1`);
    }
    const total = gbytes * 2 ** 30 + bytes;
    if (total === 0) throw this.fail(line, 'set_cachesize: the cache size must be positive');
    this.cfg.cacheSize = total;
  }

  setFlags(line: Line): void {
    const flag = line.args[0]!.toLowerCase();
    const on = this.onOff(line);
    if (flag === 'db_txn_nosync' || flag === 'db_txn_write_nosync') {
      this.source.lines.durability = line.no;
      const mode: Durability = flag === 'db_txn_nosync' ? 'nosync' : 'write-nosync';
      // As BDB: turning one on clears the other; turning the current one off means sync.
      if (on) this.cfg.durability = mode;
      else if (this.cfg.durability === undefined || this.cfg.durability === mode) {
        this.cfg.durability = 'sync';
      }
      return;
    }
    if (flag === 'db_log_autoremove') {
      this.cfg.autoRemoveLogs = on;
      this.source.lines.autoRemoveLogs = line.no;
      return;
    }
    if (IGNORED_FLAGS.has(flag)) {
      this.cfg.ignored.push(`line ${line.no}: ${line.text}`);
      return;
    }
    throw this.fail(line, `set_flags: unknown flag "${line.args[0]}"; cairn acts on ` +
      'DB_TXN_NOSYNC, DB_TXN_WRITE_NOSYNC and DB_LOG_AUTOREMOVE');
  }

  logSetConfig(line: Line): void {
    const flag = line.args[0]!.toLowerCase();
    const on = this.onOff(line);
    if (flag === 'db_log_auto_remove') {
      this.cfg.autoRemoveLogs = on;
      this.source.lines.autoRemoveLogs = line.no;
      return;
    }
    if (IGNORED_LOG_FLAGS.has(flag)) {
      this.cfg.ignored.push(`line ${line.no}: ${line.text}`);
      return;
    }
    throw this.fail(line, `log_set_config: unknown flag "${line.args[0]}"; cairn acts on ` +
      'DB_LOG_AUTO_REMOVE');
  }

  line(no: number, raw: string): void {
    const text = raw.replace(/\r$/, '').trimEnd();
    if (text === '' || /^\s/.test(text) || text.startsWith('#')) return;
    const [word, ...args] = text.split(/\s+/);
    const line: Line = { no, text, name: word!.toLowerCase(), args };
    const honoured = HONOURED[line.name];
    const ignored = IGNORED[line.name];
    const range = honoured ?? ignored;
    if (range === undefined) {
      throw this.fail(line, `unknown directive "${word}"; check its spelling against the ` +
        'Berkeley DB DB_CONFIG reference, or remove the line (cairn acts on ' +
        `${Object.keys(HONOURED).join(', ')})`);
    }
    if (args.length < range[0] || args.length > range[1]) {
      const want = range[0] === range[1] ? `${range[0]}` : `${range[0]} to ${range[1]}`;
      const usage = honoured !== undefined ? `; write it as ${honoured[2]}` : '';
      throw this.fail(line, `${word} takes ${want} argument${want === '1' ? '' : 's'}, ` +
        `found ${args.length}${usage}`);
    }
    if (honoured !== undefined) this.directive(line);
    else this.cfg.ignored.push(`line ${no}: ${text}`);
  }

  finish(): ParsedDbConfig {
    const cfg = this.cfg;
    if (cfg.createDir !== undefined && !cfg.dataDirs.includes(cfg.createDir)) {
      throw this.fail(this.#createDirLine, `set_create_dir ${cfg.createDir} is not one of the ` +
        'data directories; add "add_data_dir ' + cfg.createDir + '" before it');
    }
    const max = cfg.logFileSize;
    const bsize = cfg.logBufferSize;
    if (max !== undefined && bsize !== undefined && max < 4 * bsize) {
      throw this.fail(this.#lgMaxLine, `set_lg_max ${max} must be at least 4 × set_lg_bsize ` +
        `(${4 * bsize}); raise set_lg_max or lower set_lg_bsize`);
    }
    return cfg;
  }
}

/** Parses a DB_CONFIG file's text. Throws CairnError('CONFIG') naming the file and line. */
export function parseDbConfig(text: string, fileName = 'DB_CONFIG'): ParsedDbConfig {
  const parser = new Parser(fileName);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) parser.line(i + 1, lines[i]!);
  const cfg = parser.finish();
  sources.set(cfg, parser.source);
  return cfg;
}

/**
 * Writes a DB_CONFIG that parseDbConfig reads back to the same EnvConfig (used when a backup
 * recreates an environment's layout). Berkeley DB 5.3 reads it too.
 */
export function formatDbConfig(cfg: EnvConfig): string {
  const out: string[] = ['# DB_CONFIG written by cairn'];
  const dirLine = (name: string, dir: string): string => {
    if (dir === '' || /\s/.test(dir)) {
      throw new CairnError('CONFIG', `cannot write "${name} ${dir}" to DB_CONFIG: ` +
        'a directory name there cannot be empty or contain whitespace');
    }
    return `${name} ${dir}`;
  };
  for (const dir of cfg.dataDirs) out.push(dirLine('add_data_dir', dir));
  if (cfg.createDir !== undefined) out.push(dirLine('set_create_dir', cfg.createDir));
  if (cfg.logDir !== undefined) out.push(dirLine('set_lg_dir', cfg.logDir));
  if (cfg.logFileSize !== undefined) out.push(`set_lg_max ${cfg.logFileSize}`);
  if (cfg.logBufferSize !== undefined) out.push(`set_lg_bsize ${cfg.logBufferSize}`);
  if (cfg.cacheSize !== undefined) {
    const gbytes = Math.floor(cfg.cacheSize / 2 ** 30);
    out.push(`set_cachesize ${gbytes} ${cfg.cacheSize - gbytes * 2 ** 30} 1`);
  }
  if (cfg.durability === 'nosync') out.push('set_flags DB_TXN_NOSYNC');
  if (cfg.durability === 'write-nosync') out.push('set_flags DB_TXN_WRITE_NOSYNC');
  if (cfg.durability === 'sync') {
    out.push('set_flags DB_TXN_NOSYNC off', 'set_flags DB_TXN_WRITE_NOSYNC off');
  }
  if (cfg.autoRemoveLogs !== undefined) {
    out.push(`log_set_config DB_LOG_AUTO_REMOVE ${cfg.autoRemoveLogs ? 'on' : 'off'}`);
  }
  return out.join('\n') + '\n';
}
