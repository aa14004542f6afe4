// Log and data file listing for db_archive (issue 3). Placeholder until the implementation lands.
import type { ArchiveOptions, Environment } from '../env/environment.js';
import { CairnError } from '../util/errors.js';

export function archive(_env: Environment, _opts: ArchiveOptions): string[] {
  throw new CairnError('INVALID_ARGUMENT', 'archive is not implemented yet');
}
