// env.hotBackup and env.archive are the backup layer's (backup/hotbackup.ts hotBackup,
// backup/archive.ts archive), and env is below backup (docs/DESIGN.md §Code map): env never
// imports backup/. Instead backup/register.ts hands them to env here when it is loaded, and the
// package's entry point (src/index.ts) loads it, so `env.hotBackup()` and `env.archive()` work
// for every user of the package. Inside the engine nothing depends on them: the owner's channel
// removes logs for db_archive -d through env/archival.ts.

import { CairnError } from '../util/errors.js';
import type { Environment } from './environment.js';
import type { ArchiveOptions, HotBackupOptions, HotBackupReport } from './options.js';

export interface BackupFunctions {
  hotBackup(env: Environment, dir: string, options: HotBackupOptions): Promise<HotBackupReport>;
  archive(env: Environment, options: ArchiveOptions): string[];
}

let provided: BackupFunctions | undefined;

/** Called by backup/register.ts. */
export function provideBackup(fns: BackupFunctions): void {
  provided = fns;
}

/** The backup layer's functions; throws when it was never loaded. */
export function backupFunctions(): BackupFunctions {
  if (provided === undefined) {
    throw new CairnError('INVALID_ARGUMENT', "hot backup and db_archive are not loaded: import the package ('cairndb', src/index.ts) or src/backup/register.ts before calling env.hotBackup() or env.archive()");
  }
  return provided;
}
