// Opening an environment (Environment.open's steps): the home and its directories, the decision
// what an open must do (planOpen: create, catastrophic or normal recovery, a clean open, or a
// refusal), and the log writer it then runs with (openLog: create, resume or fork).

import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { DEFAULT_FILE_MODE, dirModeFor } from '../io/node.js';
import type { Vfs } from '../io/vfs.js';
import { knownHistory, logFileName } from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { LogWriter } from '../log/writer.js';
import { PageLsnMap, pageMapPath, readPageMap, writePageMap } from '../page/lsnmap.js';
import type { Pager } from '../page/pager.js';
import { CairnError, IoError, RunRecoveryError, invalid } from '../util/errors.js';
import { formatLsn, lsnFile } from '../util/lsn.js';
import { type ParsedDbConfig, configLine } from '../recovery/config.js';
import { type Control, CONTROL_FILE, readControl, writeControl } from './control.js';
import { type Dirs, isDataFileName, layout, loadConfig } from '../recovery/layout.js';
import { checkHistory, newHistory } from './history.js';
import { type OwnerLock, foreignLogs } from './lock.js';
import type { EnvironmentOptions } from './options.js';
import { runRecovery } from './recover.js';

/**
 * The home and its directories: made with `create` (the home and the log directory; data
 * directories named in DB_CONFIG must exist), refused otherwise when missing.
 */
export function prepareHome(vfs: Vfs, home: string, options: EnvironmentOptions): { cfg: ParsedDbConfig | undefined; dirs: Dirs } {
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
  return { cfg, dirs };
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


/** What an open does: make a new environment, recover (catastrophic or normal), or just open (clean). */
export type OpenPlan = 'create' | 'catastrophic' | 'normal' | 'clean';

/** What planOpen decides on. */
export interface OpenFacts {
  home: string;
  /** The control file (undefined: none). */
  control: Control | undefined;
  /** Log files in the log directory (only looked at without a control file). */
  logs: number;
  /** The last owner died without closing (lock.ts). */
  staleOwner: boolean;
  options: EnvironmentOptions;
  /** The log directory holds another environment's logs (asked only when it matters). */
  foreignLogs: () => boolean;
  logDir: string;
}

const noControl = (f: OpenFacts): boolean => f.control === undefined;
const needsRecovery = (f: OpenFacts): boolean => f.control!.state !== 'closed' || f.staleOwner || f.options.recover === 'normal';

/** The decision tree of an open, first match wins: a plan, or the error refusing the open. */
const OPEN_RULES: ReadonlyArray<{ when: (f: OpenFacts) => boolean; then: OpenPlan | ((f: OpenFacts) => Error) }> = [
  // No control file: a new home, or a copy or backup never recovered.
  {
    when: (f) => noControl(f) && f.options.readOnly === true && (f.logs > 0 || !f.options.create),
    then: (f) => new RunRecoveryError(`${f.home} has no ${CONTROL_FILE}; run db_recover -c -h ${f.home} before opening it read-only`),
  },
  {
    when: (f) => noControl(f) && f.logs > 0 && f.options.recover !== 'catastrophic' && f.foreignLogs(),
    then: (f) => new CairnError('CONFIG', `${f.home} has no ${CONTROL_FILE}, and its log directory ${f.logDir} (set_lg_dir in DB_CONFIG) holds another environment's logs; give this environment its own log directory`),
  },
  {
    when: (f) => noControl(f) && f.logs > 0 && f.options.recover !== 'catastrophic',
    then: (f) => new RunRecoveryError(`${f.home} has log files but no ${CONTROL_FILE} (a copy or backup that was never recovered); run db_recover -c -h ${f.home} (catastrophic recovery) first`),
  },
  { when: (f) => noControl(f) && f.logs > 0, then: 'catastrophic' },
  {
    when: (f) => noControl(f) && !f.options.create,
    then: (f) => new CairnError('NOT_FOUND', `${f.home} is not a cairn environment (no ${CONTROL_FILE}); pass { create: true } to make one`),
  },
  { when: noControl, then: 'create' },
  // A control file.
  {
    when: (f) => f.control!.state === 'recovering' && f.control!.recovery === 'catastrophic' && f.options.recover !== 'catastrophic',
    then: (f) => new RunRecoveryError(`a catastrophic recovery of ${f.home} did not finish; run db_recover -c -h ${f.home} again before opening`),
  },
  { when: (f) => f.options.recover === 'catastrophic', then: 'catastrophic' },
  {
    when: (f) => needsRecovery(f) && f.options.readOnly === true,
    then: (f) => new RunRecoveryError(`${f.home} needs recovery (it was not closed cleanly); open it read-write or run db_recover -h ${f.home} first`),
  },
  { when: needsRecovery, then: 'normal' },
  { when: () => true, then: 'clean' },
];

/** What an open must do, or throws the refusal. */
export function planOpen(facts: OpenFacts): OpenPlan {
  const rule = OPEN_RULES.find((r) => r.when(facts))!;
  if (typeof rule.then === 'string') return rule.then;
  throw rule.then(facts);
}

/** What Environment.open has made so far: the log writer it closes on failure. */
export interface Opening {
  log?: LogWriter | undefined;
}

export interface OpenContext {
  vfs: Vfs;
  home: string;
  dirs: Dirs;
  cfg: ParsedDbConfig | undefined;
  options: EnvironmentOptions;
  lock: OwnerLock;
  pager: Pager;
  logOpts: { envId: Buffer; fileSize: number; bufferSize: number };
  logFileSize: number;
}

/**
 * The control file the environment opens with: read, then made by creating the environment,
 * by recovery, or checked against the log (a clean open).
 */
export function openControl(c: OpenContext, opened: Opening): Control {
  const { vfs, home, dirs, options, pager } = c;
  const control = readControl(vfs, home);
  const logs = control === undefined ? logsOfNewHome(vfs, dirs, home, options) : [];
  const plan = planOpen({ home, control, logs: logs.length, staleOwner: c.lock.staleOwner !== undefined, options, foreignLogs: () => foreignLogs(vfs, dirs), logDir: dirs.logDir });
  switch (plan) {
    case 'create':
      return createEnvironment(c, opened);
    case 'catastrophic':
    case 'normal':
      return runRecovery(vfs, dirs, pager, control, plan, {}, options.progress).control;
    case 'clean':
      checkCleanLog(vfs, dirs, home, control!);
      pager.lsns = loadPageMap(vfs, home, control!);
      return control!;
  }
}

/** The log files of a home without a control file, after removing those of a creation that did not finish. */
function logsOfNewHome(vfs: Vfs, dirs: Dirs, home: string, options: EnvironmentOptions): number[] {
  const logs = listLogFiles(vfs, dirs.logDir);
  if (!unfinishedCreate(vfs, dirs, logs)) return logs;
  // A creation that stopped before its control file (a crash, a failed fsync): nothing was
  // ever committed in it, so it is made again from scratch.
  if (!options.create || options.readOnly) throw new CairnError('NOT_FOUND', `${home} is an environment whose creation did not finish (no ${CONTROL_FILE}, a log with no records, no data files); open it with { create: true } to make it again`);
  for (const n of logs) vfs.unlink(path.join(dirs.logDir, logFileName(n)));
  vfs.syncDir(dirs.logDir);
  return [];
}

/** A new environment: a new id and history, the first log file, an empty page LSN map. */
function createEnvironment(c: OpenContext, opened: Opening): Control {
  const { vfs, dirs, cfg, home, pager } = c;
  const envId = randomBytes(16);
  const history = newHistory();
  let log: LogWriter;
  try {
    log = opened.log = LogWriter.create(vfs, dirs.logDir, { ...c.logOpts, envId, history });
  } catch (e) {
    if (!(e instanceof IoError && cfg?.logDir !== undefined)) throw e;
    throw new CairnError('IO', `cannot create the first log file in ${dirs.logDir}, the log directory named in ${configLine(cfg, 'logDir', cfg.logDir)} (${e.message}); fix that line or the directory`, { cause: e });
  }
  writePageMap(vfs, home, pager.lsns, envId, log.end);
  return { version: 1, envId: envId.toString('hex'), state: 'open', redo: log.end, checkpoint: 0, end: log.end, nextTxn: 1, logFileSize: c.logFileSize, pageMap: log.end, history: history.toString('hex') };
}

/** A clean open: the log must end where the control file says it did at close or recovery. */
export function checkCleanLog(vfs: Vfs, dirs: Dirs, home: string, control: Control): void {
  checkHistory(vfs, dirs.logDir, control);
  const reader = new LogReader(vfs, dirs.logDir, Buffer.from(control.envId, 'hex'));
  const end = reader.files.length > 0 ? reader.findEnd(control.end) : undefined;
  if (end !== control.end) {
    throw new RunRecoveryError(
      `the log of ${home} changed since it was last closed or recovered (end ${end === undefined ? 'missing' : formatLsn(end)}, expected ${formatLsn(control.end)}); run db_recover -c -h ${home} to apply the new log files`,
    );
  }
}

/**
 * The log writer of a read-write open (created, or resumed at the control file's end; forked
 * after catastrophic recovery), and the control file marked 'open', written.
 */
export function openLog(c: OpenContext, control: Control, opened: Opening): Control {
  const { vfs, dirs, home, logOpts, logFileSize } = c;
  const envId = Buffer.from(control.envId, 'hex');
  if (opened.log === undefined) {
    const files = listLogFiles(vfs, dirs.logDir);
    opened.log = files.length === 0
      ? LogWriter.create(vfs, dirs.logDir, { ...logOpts, envId, history: control.history !== undefined ? Buffer.from(control.history, 'hex') : newHistory() }, lsnFile(control.end) || 1)
      : LogWriter.resume(vfs, dirs.logDir, { ...logOpts, envId, fileSize: control.logFileSize ?? logFileSize }, control.end);
  }
  const log = opened.log;
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
  return control;
}

/**
 * The page LSN map of a closed environment: it must be the one the control file names (written
 * by the last checkpoint or recovery), or the data files and the map are from different times.
 */
export function loadPageMap(vfs: Vfs, home: string, control: Control): PageLsnMap {
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
