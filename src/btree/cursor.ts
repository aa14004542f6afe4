// B-tree cursors: a position (leaf, index) over a reader's snapshot, moved by seeks and sibling
// links; returns copies. See btree.ts (§Reads never copy pages) for the design.

import type { PageReader } from '../page/store.js';
import { count, slot } from './page.js';
import { encodeKey } from './keys.js';
import { EMPTY, type Pos, S, type TreeRef, asBuf, descendEdge, loadEntry, seekGE, seekLE, stepNext, stepPrev } from './search.js';

export interface Cursor {
  // Each returns the entry it lands on, or undefined past either end. Returned Buffers are copies.
  // A fresh cursor's next() is first() and prev() is last(); after running off the end, next()
  // stays undefined and prev() returns the last entry (and symmetrically at the front).
  first(): [Buffer, Buffer] | undefined;
  last(): [Buffer, Buffer] | undefined;
  /** First entry with key >= key. */
  seek(key: Buffer): [Buffer, Buffer] | undefined;
  /** Last entry with key <= key. */
  seekLast(key: Buffer): [Buffer, Buffer] | undefined;
  next(): [Buffer, Buffer] | undefined;
  prev(): [Buffer, Buffer] | undefined;
}

const UNSET = 0;
const ON = 1;
const BEFORE = 2;
const AFTER = 3;

export class TreeCursor implements Cursor {
  private readonly pos: Pos = { p: EMPTY, pgno: 0, i: 0 };
  private state = UNSET;

  constructor(
    private readonly t: TreeRef,
    private readonly r: PageReader,
  ) {}

  private land(ok: boolean, end: number): [Buffer, Buffer] | undefined {
    if (!ok) {
      this.state = end;
      return undefined;
    }
    this.state = ON;
    const pos = this.pos;
    loadEntry(this.t.dup, this.r, pos.p, pos.pgno, slot(pos.p, pos.i), true);
    return [S.entK, S.entV];
  }

  first(): [Buffer, Buffer] | undefined {
    descendEdge(this.r, this.t.root, false, this.pos);
    return this.land(count(this.pos.p) > 0, AFTER);
  }

  last(): [Buffer, Buffer] | undefined {
    descendEdge(this.r, this.t.root, true, this.pos);
    return this.land(count(this.pos.p) > 0, BEFORE);
  }

  seek(key: Buffer): [Buffer, Buffer] | undefined {
    key = asBuf(key, 'key');
    const ik = this.t.dup === 'none' ? key : encodeKey(key, 0);
    return this.land(seekGE(this.r, this.t.root, ik, true, this.pos), AFTER);
  }

  seekLast(key: Buffer): [Buffer, Buffer] | undefined {
    key = asBuf(key, 'key');
    const ok = this.t.dup === 'none' ? seekLE(this.r, this.t.root, key, true, this.pos) : seekLE(this.r, this.t.root, encodeKey(key, 0, true), false, this.pos);
    return this.land(ok, BEFORE);
  }

  next(): [Buffer, Buffer] | undefined {
    switch (this.state) {
      case ON:
        return this.land(stepNext(this.r, this.pos), AFTER);
      case AFTER:
        return undefined;
      default:
        return this.first();
    }
  }

  prev(): [Buffer, Buffer] | undefined {
    switch (this.state) {
      case ON:
        return this.land(stepPrev(this.r, this.pos), BEFORE);
      case BEFORE:
        return undefined;
      default:
        return this.last();
    }
  }
}
