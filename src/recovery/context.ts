// What recovery sees of the environment it recovers (DESIGN.md §Recovery): built by the
// environment's open and by Environment.recover, used by the redo pass and the final checks.

import type { Vfs } from '../io/vfs.js';
import type { Pager } from '../page/pager.js';

export interface RecoveryContext {
  vfs: Vfs;
  pager: Pager;
  logDir: string;
  envId: Buffer;
  /** Where a data file of this name is, or would be created. */
  resolve(name: string): string;
  /** Every candidate data file in the data directories: name → path. */
  listDataFiles(): Map<string, string>;
  progress?: (message: string) => void;
}
