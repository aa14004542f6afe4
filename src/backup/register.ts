// Hands the backup layer's hot backup and db_archive listing to the environment: env.hotBackup()
// and env.archive() call them (env/backupport.ts; env sits below backup and does not import it).
// src/index.ts imports this module, so the package's Environment always has them.

import { nodeVfs } from '../io/node.js';
import { provideBackup } from '../env/backupport.js';
import type { Environment } from '../env/environment.js';
import type { HotBackupOptions, HotBackupReport } from '../env/options.js';
import { archive } from './archive.js';
import { environmentSource, runHotBackup } from './hotbackup.js';

/**
 * env.hotBackup(dir, opts): a hot backup of an environment open in this process. On real files
 * the backup runs in a worker thread (backupthread.ts), so this process's writers keep the event
 * loop; only checkpoint and pin/unpin come back to this thread.
 */
export async function hotBackup(env: Environment, dir: string, opts: HotBackupOptions): Promise<HotBackupReport> {
  const source = environmentSource(env);
  if (env.vfs === nodeVfs) {
    const { runHotBackupInThread } = await import('./backupthread.js');
    return (await runHotBackupInThread(source, dir, { ...opts, recover: true })) as HotBackupReport;
  }
  return (await runHotBackup(source, dir, { ...opts, vfs: env.vfs, recover: true })) as HotBackupReport;
}

provideBackup({ hotBackup, archive });
