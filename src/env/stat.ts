// env.stat(): the figures of a live environment (db_stat -e prints them).

import { listLogFiles } from '../log/reader.js';
import { formatLsn, lsnFile, lsnOffset } from '../util/lsn.js';
import type { Environment } from './environment.js';
import type { EnvironmentStat } from './options.js';
import { keptLogs } from '../log/retention.js';

/** Log, transaction, cache and checkpoint figures. */
export function environmentStat(env: Environment): EnvironmentStat {
  const w = env.writer;
  const l = w?.stats ?? { records: 0, bytes: 0, writes: 0, syncs: 0, files: 0 };
  const end = w?.end ?? env.control.end;
  const p = env.pager.stats;
  const c = env.checkpointer;
  return {
    home: env.home,
    envId: env.envId.toString('hex'),
    log: {
      dir: env.dirs.logDir,
      file: lsnFile(end),
      offset: lsnOffset(end),
      end: formatLsn(end),
      durable: formatLsn(w?.durableLsn ?? end),
      fileSize: env.control.logFileSize,
      records: l.records,
      bytes: l.bytes,
      writes: l.writes,
      syncs: l.syncs,
      newFiles: l.files,
      retention: env.autoRemove ? 'recovery' : 'all',
      kept: keptLogs(listLogFiles(env.vfs, env.dirs.logDir), lsnFile(env.control.redo), env.archival.pins.keys(), env.autoRemove),
    },
    txn: {
      nextId: env.pipeline.nextTxn,
      ...env.counters,
      active: env.active.size,
      snapshots: env.pager.openSnapshots,
      lastCommit: env.pipeline.lastCommit === undefined ? undefined : new Date(env.pipeline.lastCommit),
      snapshotBytes: env.pager.historyBytes,
      oldSnapshots: env.pager.historyBytes <= env.snapshotWarnBytes ? [] : env.pager.snapshotReport().filter((r) => r.pinnedBytes > env.snapshotWarnBytes).map((r) => ({ ...r, commitsBehind: env.pager.seq - r.seq })),
      ...env.pager.snapshotStats,
    },
    cache: { size: env.pager.cacheSize, pageSize: env.pageSize, pages: env.pager.cachedPages, dirty: env.pager.dirtyPages, ...p },
    checkpoint: { count: c.ckptCount, last: formatLsn(c.lastCkpt), redo: formatLsn(env.control.redo), lastTime: c.ckptCount > 0 ? new Date(c.lastCkptTime) : undefined, running: c.ckptRunning !== undefined },
  };
}
