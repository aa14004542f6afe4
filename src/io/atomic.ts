// Atomic, durable replacement of a small whole file (the control file, the page LSN map, a
// backup manifest): write `<path>.tmp`, fsync it, rename it over `path`, fsync the directory.
// A crash at any point leaves the old content or the new one under `path`, never a torn file:
// the new bytes are durable before the rename makes them reachable, and the directory fsync
// makes the rename itself durable before the caller goes on.

import * as path from 'node:path';
import type { Vfs } from './vfs.js';

/** Replaces `file` with `bytes` atomically and durably (temp file, fsync, rename, fsync of its directory). */
export function writeFileAtomic(vfs: Vfs, file: string, bytes: Uint8Array): void {
  const tmp = `${file}.tmp`;
  const h = vfs.open(tmp, { create: true });
  try {
    h.truncate(0);
    h.write(bytes, 0);
    h.sync();
  } finally {
    h.close();
  }
  vfs.rename(tmp, file);
  vfs.syncDir(path.dirname(file));
}
