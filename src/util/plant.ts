// Planted bugs for the yardstick (issue 4 item 8; scripts/planted.mjs, `npm run test:planted`).
//
// CAIRN_PLANT=<name>[,<name>...] turns on known bugs, each a one-line guarded branch in the
// engine marked `// PLANT(<name>)`. The suite must catch every one of them; a bug the suite
// does not catch is a hole in the suite. Read once at load: when CAIRN_PLANT is unset,
// planted() is a constant `false` check on an empty set.
//
// Plants work only in a development checkout (this module's source, src/util/plant.ts, beside
// the build): the published package ships no src/, so no environment variable can switch off
// an fsync or a checksum in an installed cairndb. There CAIRN_PLANT is ignored with a warning.

import { existsSync } from 'node:fs';

/** Every plant, with where it lives and what it breaks. scripts/planted.mjs lists the same names. */
export const PLANTS = {
  'log-skip-fsync': 'src/log/writer.ts flushLoop: group commit acknowledges without the fdatasync',
  'page-ignore-checksum': 'src/page/pager.ts checkPage: a page checksum mismatch is ignored',
  'log-ignore-checksum': 'src/log/reader.ts recordAt: a log record checksum mismatch is ignored',
  'ckpt-skip-dirty': 'src/env/environment.ts runCheckpoint: the last dirty page is not written',
  'ckpt-late-redo': 'src/env/environment.ts runCheckpoint: the redo point is the log end after writing the pages',
  'archive-needed-log': 'src/env/environment.ts removableLogs: the redo point\'s own log file is listed as removable',
  'backup-logs-first': 'src/backup/hotbackup.ts: the log is copied before the data files',
  'log-corrupt-as-end': 'src/log/reader.ts records: a bad record followed by valid ones is taken as the end of the log',
  'fsync-retry': 'src/log/writer.ts flushLoop: a failed fsync is retried and the writer carries on',
  'log-skip-dir-fsync': 'src/log/writer.ts makeFile: no directory fsync after creating a log file',
  'drop-page-image': 'src/page/pager.ts needsImage: never a full page image after a checkpoint',
  'wb-skip-log-flush': 'src/env/environment.ts runWriteBack: pages are written back without making the log durable through them first (I1)',
  'page-ignore-stale': 'src/page/pager.ts checkLsn: a page older (or newer) than the page LSN map says is accepted',
  'ranges-skip-mark': 'src/btree/btree.ts insert: a new leaf cell is not reported as changed, so the page delta misses its bytes',
  'append-cache-split': 'src/btree/btree.ts insertLeaf: a leaf split does not invalidate the cached append path, so the next append goes to the old leaf',
  'arena-ignore-snapshots': 'src/page/pager.ts unshared: page buffers are recycled while snapshots are open, so a snapshot reads a reused buffer',
} as const;

export type PlantName = keyof typeof PLANTS;

const requested = process.env['CAIRN_PLANT'] ?? '';
const devCheckout = requested !== '' && existsSync(new URL('../../src/util/plant.ts', import.meta.url));
if (requested !== '' && !devCheckout) {
  process.emitWarning('CAIRN_PLANT is ignored: planted bugs exist only in a development checkout of cairn', { code: 'CAIRN_PLANT_IGNORED' });
}
const active: ReadonlySet<string> = new Set(
  (devCheckout ? requested : '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);
for (const name of active) {
  if (!(name in PLANTS)) throw new Error(`CAIRN_PLANT: unknown planted bug ${name} (known: ${Object.keys(PLANTS).join(', ')})`);
}
const any = active.size > 0;

/** True when the planted bug `name` is switched on (CAIRN_PLANT). */
export function planted(name: PlantName): boolean {
  return any && active.has(name);
}
