// The pager's page arena (docs/DESIGN.md §Page arena) and its check mode (`arenaCheck`). The
// pager owns one and hands it out through `Pager.spare`, `recycle`, `hold` and `settle`.

import { checks } from '../util/checks.js';
import type { CachedPage } from './datafile.js';

/**
 * `CAIRN_CHECKS=arena` (util/checks.ts): every page buffer that would go back to the spares (`Pager.recycle`)
 * is filled with `POISON` instead and never reused, so a holder that reads it later reads
 * garbage (a structure or checksum error, or wrong data) instead of a newer page's bytes.
 * `poisoned` counts them.
 */
export const arenaCheck: { on: boolean; poisoned: number } = { on: checks.arena, poisoned: 0 };
export const POISON = 0xdb;

/** What `CAIRN_CHECKS=arena` does instead of keeping a buffer as a spare. */
function poison(buf: Buffer): void {
  buf.fill(POISON);
  arenaCheck.poisoned++;
}

// The page arena (docs/DESIGN.md §Page arena): spare page buffers that nobody references,
// handed out by `load`, `FilePages.writable`, `allocate` and `free` instead of new ones. About a
// tenth of the cache at most (`spares` and `freed` together; always room for one). A frame evicted while a `peek` caller
// runs may still be in that caller's hands (a descent holds its page while an overflow chain is
// read, and each load may evict), so it waits in `freed` until the caller has returned and
// calls `settle`.
export class Arena {
  private readonly spares: Buffer[] = [];
  private readonly freed: Buffer[] = [];
  /** Buffers of page lists alive across awaits (a checkpoint's or write-back's: `hold`), with how many lists hold each: never recycled. */
  readonly held = new Map<Buffer, number>();

  constructor(
    private readonly opts: { readonly cacheSize: number },
    /** The pager's open snapshots (sequence → holders). */
    private readonly snapshots: ReadonlyMap<number, number>,
  ) {}

  /**
   * Keeps the buffers of a page list taken by `collectDirty` or `collectWriteBack` from being
   * recycled while the list is in use (it is written across awaits, and `markClean` compares
   * buffer identity); call the returned function once, when the list is no longer used.
   */
  hold(pages: ReadonlyArray<{ buf: Buffer }>): () => void {
    const held = this.held;
    for (const d of pages) held.set(d.buf, (held.get(d.buf) ?? 0) + 1);
    let holding = true;
    return () => {
      if (!holding) return;
      holding = false;
      for (const d of pages) {
        const n = held.get(d.buf)!;
        if (n > 1) held.set(d.buf, n - 1);
        else held.delete(d.buf);
      }
    };
  }

  /** Can this committed buffer, which nobody else was handed, be recycled now? No snapshot may read it, no held page list write it. */
  unshared(buf: Buffer): boolean {
    return this.snapshots.size === 0 && !this.held.has(buf); // PLANT(arena-ignore-snapshots): return !this.held.has(buf);
  }

  /** A spare buffer of `pageSize` bytes (contents stale: the caller overwrites all of it), or undefined. */
  spare(pageSize: number): Buffer | undefined {
    const buf = this.spares.pop();
    return buf !== undefined && buf.length === pageSize ? buf : undefined;
  }

  private roomForSpare(pageSize: number): boolean {
    return (this.spares.length + this.freed.length) * 10 * pageSize < this.opts.cacheSize;
  }

  /** Gives back a page buffer that nobody references any more (the caller has proved it): a spare, or poison (`arenaCheck`). */
  recycle(buf: Buffer, pageSize: number): void {
    if (buf.length !== pageSize) return;
    if (arenaCheck.on) poison(buf);
    else if (this.roomForSpare(pageSize)) this.spares.push(buf);
  }

  /**
   * Called for a clean page leaving the cache: keeps its buffer if nobody else may hold it. A
   * frame (given only to `peek` callers) waits for `settle`. Any other buffer is recycled only
   * `between` operations (trim, a microtask after a commit: no caller is half way through a
   * descent) while no snapshot is open and no page list is held — every reader that keeps a page
   * from one call to the next (cursor, iterator, transaction) holds a snapshot.
   */
  release(p: CachedPage, pageSize: number, between: boolean): void {
    if (p.buf.length === pageSize) {
      if (p.frame === p.buf) {
        if (arenaCheck.on || this.roomForSpare(pageSize)) this.freed.push(p.buf);
      } else if (between && this.unshared(p.buf)) this.recycle(p.buf, pageSize);
    }
    p.frame = null;
  }

  /** Ends a `peek` caller's operation: frames evicted during it may now be reused. */
  settle(): void {
    const f = this.freed;
    if (f.length === 0) return;
    for (let i = 0; i < f.length; i++) {
      if (arenaCheck.on) poison(f[i]!);
      else this.spares.push(f[i]!);
    }
    f.length = 0;
  }
}
