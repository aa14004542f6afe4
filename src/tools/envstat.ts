// What db_stat -e/-l/-t/-m report (issue 5): gathered from the live owner through the
// coordination channel's `status` request when a process owns the environment, otherwise from
// the files at rest (control file, log files, data files' meta pages). Never writes anything.

import * as path from 'node:path';
import { VERSION } from '../util/version.js';
import { connectChannel, type ChannelStatus } from '../env/channel.js';
import { CONTROL_FILE, type Control } from '../env/control.js';
import { readOwner } from '../env/lock.js';
import { nodeVfs } from '../io/node.js';
import { DEFAULT_LOG_FILE_SIZE, logFileName, parseLogFileName } from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { type Lsn, formatLsn, lsnFile, lsnOffset, makeLsn, parseLsn } from '../util/lsn.js';
import { CairnError } from '../util/errors.js';
import { RawDataFile } from './datafile.js';
import { controlOf } from './envfiles.js';
import { readLayout } from '../recovery/layout.js';
import { type KeptLog, keptLogs } from '../log/retention.js';
import { ENV_DEFAULTS } from '../env/options.js';

export interface LsnInfo {
  file: number;
  offset: number;
  text: string;
}

function lsnInfo(lsn: Lsn): LsnInfo {
  return { file: lsnFile(lsn), offset: lsnOffset(lsn), text: formatLsn(lsn) };
}

export interface EnvReport {
  time: Date;
  home: string;
  envId: string;
  cairnVersion: string;
  logFormatVersion: number;
  dataFormatVersion: number;
  /** The control file's state (an owner that is running leaves it 'open'). */
  state: Control['state'];
  recovery?: Control['recovery'];
  owner?: { pid: number; alive: boolean; startedAt?: string };
  /** Figures came from the live owner (counters since it opened the environment). */
  live: boolean;
  config: { present: boolean; logDir: string; dataDirs: string[]; createDir: string; cacheSize: number; logFileSize: number; durability: string; autoRemoveLogs: boolean };
  log: {
    dir: string;
    fileSize: number;
    files: number[];
    end: LsnInfo;
    redo: LsnInfo;
    removable: number[];
    /** Every log file with why it is kept (src/log/retention.ts); live owners' own autoRemoveLogs option is not known here: DB_CONFIG's line or the default. */
    kept: KeptLog[];
    /** 'recovery': checkpoints remove what recovery no longer needs (default); 'all': DB_CONFIG keeps every log file. */
    retention: 'recovery' | 'all';
    bytesOnDisk: number;
    /** Live only: bytes logged since the owner opened the environment. */
    bytesWritten?: number;
    pins?: Array<{ id: number; from: number }>;
  };
  txn: {
    lastCheckpoint?: LsnInfo;
    checkpointTime?: Date;
    lastTxnId?: number;
    lastCommit?: Date;
    /** Live only. */
    commits?: number;
    checkpoints?: number;
  };
  cache: {
    size: number;
    files: Array<{ name: string; path: string; pageSize: number; pages: number; bytes: number }>;
  };
}

const DEFAULT_CACHE = ENV_DEFAULTS.cacheSize;

function fileSize(p: string): number {
  try {
    return nodeVfs.stat(p)?.size ?? 0;
  } catch {
    return 0;
  }
}

/** The time of the checkpoint record at `lsn`, read from the log; undefined when it cannot be read. */
function checkpointTime(logDir: string, envId: Buffer, lsn: Lsn): number | undefined {
  try {
    const reader = new LogReader(nodeVfs, logDir, envId);
    for (const raw of reader.records(lsn)) {
      const rec = reader.decode(raw);
      return rec.type === 'checkpoint' ? rec.time : undefined;
    }
  } catch {
    // an archived or damaged log: leave the time out
  }
  return undefined;
}

function dataFiles(dirs: string[], envId: string): EnvReport['cache']['files'] {
  const out: EnvReport['cache']['files'] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = nodeVfs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (name.startsWith('__cairn') || name === 'DB_CONFIG' || parseLogFileName(name) !== undefined || seen.has(name)) continue;
      const p = path.join(dir, name);
      try {
        if (nodeVfs.stat(p)?.isFile !== true) continue; // a FIFO would block the open
        const f = RawDataFile.open(p);
        try {
          if (f.meta.envId.toString('hex') !== envId) continue;
          seen.add(name);
          out.push({ name, path: p, pageSize: f.pageSize, pages: f.meta.pageCount, bytes: f.size });
        } finally {
          f.close();
        }
      } catch {
        // not a data file of ours
      }
    }
  }
  return out;
}

/** Gathers the report: from the owner when one is alive, else from the files. */
export async function environmentReport(home: string): Promise<EnvReport> {
  const layout = readLayout(nodeVfs, home);
  const control = controlOf(home);
  if (control === undefined) {
    throw new CairnError('NOT_FOUND', `${home} is not a cairn environment (no ${CONTROL_FILE}); give the environment directory with -h${listLogFiles(nodeVfs, layout.logDir).length > 0 ? `, or run db_recover -c -h ${home} on a copy that was never recovered` : ''}`);
  }
  const owner = (() => {
    try {
      return readOwner(nodeVfs, home);
    } catch {
      return undefined;
    }
  })();
  let status: (ChannelStatus & Record<string, unknown>) | undefined;
  if (owner?.alive) {
    const client = await connectChannel(home);
    if (client !== undefined) {
      try {
        status = (await client.request('status')) as ChannelStatus & Record<string, unknown>;
      } finally {
        client.close();
      }
    }
  }
  const cfg = layout.config;
  const logDir = status?.logDir ?? layout.logDir;
  const envIdHex = status?.envId ?? control.envId;
  const envId = Buffer.from(envIdHex, 'hex');
  const files = status?.logFiles ?? listLogFiles(nodeVfs, logDir);
  let end: Lsn;
  let redo: Lsn;
  if (status !== undefined) {
    end = status.end;
    redo = status.redo;
  } else {
    redo = control.redo;
    end = control.end;
    if (control.state !== 'closed') {
      try {
        end = new LogReader(nodeVfs, logDir, envId).findEnd(control.redo || undefined);
      } catch {
        // keep the control file's figure
      }
    }
  }
  const removable = status?.removable ?? files.filter((n) => n < lsnFile(redo));
  let bytesOnDisk = 0;
  for (const n of files) bytesOnDisk += fileSize(path.join(logDir, logFileName(n)));
  const ckptLsn = status !== undefined ? parseLsn(status.lastCheckpoint) : control.checkpoint;
  const lastCheckpoint = ckptLsn !== undefined && ckptLsn !== 0 ? ckptLsn : undefined;
  const ckptMs = status?.lastCheckpointTime ?? (lastCheckpoint !== undefined ? checkpointTime(logDir, envId, lastCheckpoint) : undefined);
  const dataDirs = status?.dataDirs ?? layout.dataDirs;
  const createDir = status?.createDir ?? layout.createDir;
  const report: EnvReport = {
    time: new Date(),
    home,
    envId: envIdHex,
    cairnVersion: VERSION,
    logFormatVersion: 1,
    dataFormatVersion: 1,
    state: control.state,
    ...(control.recovery !== undefined ? { recovery: control.recovery } : {}),
    ...(owner !== undefined ? { owner: { pid: owner.pid, alive: owner.alive, ...(owner.startedAt !== undefined ? { startedAt: owner.startedAt } : {}) } } : {}),
    live: status !== undefined,
    config: {
      present: cfg !== undefined,
      logDir,
      dataDirs: dataDirs.length > 0 ? dataDirs : [home],
      createDir,
      cacheSize: cfg?.cacheSize ?? DEFAULT_CACHE,
      logFileSize: status?.logFileSize ?? control.logFileSize ?? cfg?.logFileSize ?? DEFAULT_LOG_FILE_SIZE,
      durability: cfg?.durability ?? 'sync',
      autoRemoveLogs: cfg?.autoRemoveLogs ?? true,
    },
    log: {
      dir: logDir,
      fileSize: status?.logFileSize ?? control.logFileSize ?? DEFAULT_LOG_FILE_SIZE,
      files,
      end: lsnInfo(end),
      redo: lsnInfo(redo === 0 && files.length > 0 ? makeLsn(files[0]!, 64) : redo),
      removable,
      kept: keptLogs(files, redo === 0 && files.length > 0 ? files[0]! : lsnFile(redo), (status?.pins ?? []).map((p) => p.from), cfg?.autoRemoveLogs ?? true),
      retention: cfg?.autoRemoveLogs ?? true ? 'recovery' : 'all',
      bytesOnDisk,
      ...(status !== undefined ? { bytesWritten: status.logBytes, pins: status.pins } : {}),
    },
    txn: {
      ...(lastCheckpoint !== undefined ? { lastCheckpoint: lsnInfo(lastCheckpoint) } : {}),
      ...(ckptMs !== undefined ? { checkpointTime: new Date(ckptMs) } : {}),
      ...(control.nextTxn > 1 ? { lastTxnId: control.nextTxn - 1 } : {}),
      ...(control.lastCommit !== undefined ? { lastCommit: new Date(control.lastCommit) } : {}),
      ...(status !== undefined ? { commits: status.commits, checkpoints: status.checkpoints } : {}),
    },
    cache: {
      size: cfg?.cacheSize ?? DEFAULT_CACHE,
      files: dataFiles(dataDirs.length > 0 ? dataDirs : [home], envIdHex),
    },
  };
  return report;
}
