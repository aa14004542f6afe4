// Shared set-up of the log tests (log.test.ts, log.cov.test.ts): a simulated home, the writer
// options, a commit record.

import { SimVfs } from '../io/sim.js';
import type { LogRecord } from './records.js';

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
