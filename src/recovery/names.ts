// Data file names (docs/DESIGN.md §Data file names): one plain path component in a data
// directory, so that no name — given to the API or read from a log record — can reach a file
// outside the environment's data directories, and every data file is one that db_archive -s
// lists and a backup copies.

import { parseLogFileName } from '../log/file.js';

/** The longest name in UTF-8 bytes (NAME_MAX of the common file systems). */
export const MAX_FILE_NAME_BYTES = 255;

/** db_load's temporary files (`.db_load.<pid>.<name>`): created only by db_load, removed at open. */
export const LOAD_TEMP_PREFIX = '.db_load.';

/**
 * Why `name` cannot be a data file name, or undefined when it can. Refused: anything but a
 * non-empty string; a directory part ('/' or '\\'); '.' and '..'; NUL and control characters;
 * leading or trailing white space; more than MAX_FILE_NAME_BYTES bytes; the environment's own
 * names (`__cairn*`, `DB_CONFIG`, `log.<digits>`, `*.tmp`).
 */
export function fileNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name === '') return 'a database file name must be a non-empty string';
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 40)}…` : name);
  if (name.includes('/') || name.includes('\\')) return `database file name ${shown} has a directory part; give a plain file name (data files live in the environment's data directories)`;
  if (name === '.' || name === '..') return `database file name ${shown} is not a file name`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return `database file name ${shown} contains a control character`;
  if (name.trim() !== name) return `database file name ${shown} begins or ends with white space`;
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) return `database file name ${shown} is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  if (name.startsWith('__cairn') || name === 'DB_CONFIG' || /^log\.\d+$/.test(name) || parseLogFileName(name) !== undefined || name.endsWith('.tmp')) {
    return `database file name ${shown} is reserved for the environment's own files; choose another name`;
  }
  return undefined;
}

/** A name db_load gives its temporary file: `.db_load.<pid>.<name>`; the pid, else undefined. */
export function loadTempPid(name: string): number | undefined {
  const m = /^\.db_load\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}
