// Hot backup (issue 3). Placeholder until the implementation lands.
import type { Environment, HotBackupOptions, HotBackupReport } from '../env/environment.js';
import { CairnError } from '../util/errors.js';

export async function hotBackup(_env: Environment, _dir: string, _opts: HotBackupOptions): Promise<HotBackupReport> {
  throw new CairnError('INVALID_ARGUMENT', 'hot backup is not implemented yet');
}
