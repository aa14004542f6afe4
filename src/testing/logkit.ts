// Shared set-up of the log tests (log/log.test.ts, log/log.cov.test.ts): a simulated home, the writer
// options, a commit record, a log of one durable commit.

import { SimVfs } from '../io/sim.js';
import type { Lsn } from '../util/lsn.js';
import type { LogRecord } from '../log/records.js';
import { LogWriter } from '../log/writer.js';

export const envId = Buffer.alloc(16, 7);
export const opts = { envId, fileSize: 32 * 1024, bufferSize: 4096 };

/** A simulated file system with an empty, durable /env. */
export function setup(): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir('/env', { recursive: true });
  vfs.syncDir('/');
  return vfs;
}

export function commit(txn: number, durable = 0): LogRecord {
  return { type: 'commit', txn, time: 1_700_000_000_000 + txn, durable };
}

/** Writes a log of one commit in /env, durable and closed; returns the end of its records. */
export async function oneCommitLog(vfs: SimVfs): Promise<Lsn> {
  const w = LogWriter.create(vfs, '/env', opts);
  w.append(commit(1));
  await w.flush();
  const end = w.end;
  w.close();
  return end;
}
