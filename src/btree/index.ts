// B-tree layer: public surface (see btree.ts for the design and FORMAT.md for the page format).
export { BTree } from './btree.js';
export type { Cursor, DupMode, ScanOptions, TreeStat } from './btree.js';
export type { PageReader, PageWriter } from './store.js';
export { MemStore } from './memstore.js';
