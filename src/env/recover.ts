// Running recovery in a home (Environment.recover, and Environment.open when the last owner did
// not close cleanly): the control file written around it ('recovering' first, so a recovery that
// stops half way is noticed: I7; 'closed' with the new redo point after), the checks that refuse
// before anything changes, and the report.
//
// It belongs in recovery/run.ts (docs/DESIGN.md §Code map) and stays in env/ for now: it reads and
// writes the control file (env/control.ts), checks the log's history (env/history.ts) and
// numbering (env/retention.ts), redoes through env/recovery.ts and finds data files through the
// home's directory layout (env/dirs.ts), all of which still live in env/. The pieces that need
// none of that are below it already: recovery/point_in_time.ts and recovery/manifest.ts.

import type { Progress } from '../util/progress.js';
import * as path from 'node:path';
import { nodeVfs } from '../io/node.js';
import type { Vfs } from '../io/vfs.js';
import { LOG_HEADER_SIZE, MIN_LOG_FILE_SIZE, DEFAULT_LOG_FILE_SIZE, knownHistory, logFileName } from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { pageMapPath, readPageMap, writePageMap } from '../page/lsnmap.js';
import { Pager } from '../page/pager.js';
import { checkManifestLogs } from '../recovery/manifest.js';
import { findStopPoint, keepLaterLog } from '../recovery/point_in_time.js';
import { CairnError, CorruptionError, invalid } from '../util/errors.js';
import { type Lsn, formatLsn, makeLsn, parseLsn } from '../util/lsn.js';
import { type Control, readControl, writeControl } from './control.js';
import { type Dirs, checkedDataFile, dataFiles, layout, loadConfig } from '../recovery/layout.js';
import { checkHistory, checkHistoryChain, lastLogHeader } from './history.js';
import { lockEnvironment } from './lock.js';
import { ENV_DEFAULTS, type RecoverOptions, type RecoveryReport } from './options.js';
import { type RecoveryResult, recover } from '../recovery/redo.js';
import { checkAllPages, openDataFile } from '../recovery/check.js';
import { checkLogNumbering } from '../log/retention.js';

/**
 * Runs recovery without opening the environment for use (Environment.recover): normal (from the
 * last checkpoint) or catastrophic (every log file, for backups and failover copies), optionally
 * to a time.
 */
export async function recoverHome(home: string, options: RecoverOptions): Promise<RecoveryReport> {
  const vfs = options.vfs ?? nodeVfs;
  home = path.resolve(home);
  if (!vfs.stat(home)?.isDirectory) throw new CairnError('NOT_FOUND', `environment home ${home} does not exist`);
  const dirs = layout(home, loadConfig(vfs, home));
  const lock = lockEnvironment(vfs, dirs);
  try {
    const control = readControlToRecover(vfs, home, options);
    const kind = options.catastrophic || control === undefined ? 'catastrophic' : 'normal';
    // issue 3 (I7): a backup whose first log file is later than its manifest's recorded start is refused, unchanged.
    if (kind === 'catastrophic') checkManifestLogs(vfs, home, () => dirs.logDir);
    const t0 = performance.now();
    const pager = new Pager(vfs, { cacheSize: ENV_DEFAULTS.cacheSize });
    const untilLsn = recoveryPoint(options);
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

function readControlToRecover(vfs: Vfs, home: string, options: RecoverOptions): Control | undefined {
  try {
    return readControl(vfs, home);
  } catch (e) {
    // A damaged control file is rebuilt from the logs by catastrophic recovery (as its error advises).
    if (!(options.catastrophic && e instanceof CorruptionError)) throw e;
    return undefined;
  }
}

/** `untilLsn` parsed, and `until` checked. */
function recoveryPoint(options: RecoverOptions): Lsn | undefined {
  let untilLsn: Lsn | undefined;
  if (options.untilLsn !== undefined) {
    untilLsn = parseLsn(options.untilLsn);
    if (untilLsn === undefined) throw invalid(`untilLsn must look like 3/1200 or [3][1200], got "${options.untilLsn}"`);
  }
  if (options.until !== undefined && !(options.until instanceof Date && !Number.isNaN(options.until.getTime()))) throw invalid('until must be a valid Date');
  return untilLsn;
}

/** What recovery reads (recovery.ts's RecoveryContext) for the home in `dirs`. */
function recoveryContext(vfs: Vfs, dirs: Dirs, pager: Pager, envId: Buffer, progress?: (p: Progress) => void) {
  return {
    vfs,
    pager,
    logDir: dirs.logDir,
    envId,
    resolve: (name: string) => checkedDataFile(vfs, dirs, name),
    listDataFiles: () => dataFiles(vfs, dirs),
    progress,
  };
}

/**
 * Runs recovery in a directory and writes the control file around it: 'recovering' first (so
 * a recovery that stops half way is noticed: I7), 'closed' with the new redo point after.
 */
export function runRecovery(
  vfs: Vfs,
  dirs: Dirs,
  pager: Pager,
  control: Control | undefined,
  kind: 'normal' | 'catastrophic',
  opts: { untilTime?: number | undefined; untilLsn?: Lsn | undefined },
  progress?: (p: Progress) => void,
): { control: Control; result: RecoveryResult; keptLogDir?: string } {
  const { files, envId, logFileSize, base, marker } = recoveryStart(vfs, dirs, control, kind);
  const ctx = recoveryContext(vfs, dirs, pager, envId, progress);
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
  loadStartPageMap(vfs, dirs, pager, control, kind, envId);
  // 'recovering' once the checks that refuse without changing anything have passed (recover()
  // calls onStart before its first change): a refused recovery leaves the directory as it was.
  const onStart = () => writeControl(vfs, dirs.home, marker);
  const result = recover(ctx, { from, untilLsn, checkAllPages: kind === 'catastrophic', onStart });
  writePageMap(vfs, dirs.home, pager.lsns, envId, result.end);
  if (untilLsn !== undefined && result.stoppedAt !== undefined) keptLogDir = keepLaterLog(vfs, dirs, result.stoppedAt);
  const redo = redoAfter(vfs, dirs, envId, files, result.end);
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

/**
 * The checks before recovery changes anything (log files, their numbering and history, the log
 * file size), and the control file it starts from (`base`) and marks the directory with (`marker`).
 */
function recoveryStart(vfs: Vfs, dirs: Dirs, control: Control | undefined, kind: 'normal' | 'catastrophic'): { files: number[]; envId: Buffer; logFileSize: number; base: Control; marker: Control } {
  const files = listLogFiles(vfs, dirs.logDir);
  if (files.length === 0) throw new CairnError('NOT_FOUND', `no log files in ${dirs.logDir}: nothing to recover from`);
  if (kind === 'catastrophic') checkLogNumbering(vfs, dirs.logDir);
  let envId: Buffer;
  if (control !== undefined) envId = Buffer.from(control.envId, 'hex');
  else {
    const h = new LogReader(vfs, dirs.logDir).header(files[0]!);
    if (h === undefined) throw new CorruptionError(path.join(dirs.logDir, logFileName(files[0]!)), 0, 'log file header is damaged');
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
  return { files, envId, logFileSize, base, marker };
}

/**
 * Recovery starts from the page LSN map written with the data files' last change; catastrophic
 * recovery, the way to rebuild a damaged or lost map, goes on without one it cannot trust
 * (pages no replayed record touches are then not checked for staleness).
 */
function loadStartPageMap(vfs: Vfs, dirs: Dirs, pager: Pager, control: Control | undefined, kind: 'normal' | 'catastrophic', envId: Buffer): void {
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
}

/**
 * The redo point after recovery: it never promises more than the data files' meta pages say they
 * need (needsLog, set by the checkpoints): archival and backups start from it, and a copy with the
 * logs from there on must be accepted. Redo from an earlier point is idempotent.
 */
function redoAfter(vfs: Vfs, dirs: Dirs, envId: Buffer, files: number[], end: Lsn): Lsn {
  let redo = end;
  for (const [name, p] of dataFiles(vfs, dirs)) {
    const need = openDataFile(vfs, name, p, envId)?.needsLog ?? 0;
    if (need > 0 && need < redo) redo = need;
  }
  return Math.max(redo, makeLsn(files[0]!, LOG_HEADER_SIZE));
}
