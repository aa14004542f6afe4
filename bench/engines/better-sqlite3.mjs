// better-sqlite3 (SQLite through N-API, synchronous API).
import path from 'node:path';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { fsyncTree } from '../lib/fsutil.mjs';

const pkgVersion = () =>
  JSON.parse(readFileSync(new URL('../node_modules/better-sqlite3/package.json', import.meta.url), 'utf8')).version;
const FILE = 'bench.sqlite';

/** @type {import('../lib/adapter.mjs').Adapter} */
export default {
  name: 'better-sqlite3',
  settings: {
    common: 'table kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID; page_size 4096; cache_size -65536 (64 MiB); journal_mode=WAL; INSERT OR REPLACE; default WAL auto-checkpoint (1000 pages)',
    sync: 'synchronous=FULL: fsync of the WAL at every commit',
    relaxed: 'synchronous=OFF; the final sync is an fsync of the database file, the WAL and the directory',
    writeBatch: 'db.transaction(() => stmt.run × 1000)()',
    putSync1: 'stmt.run(k, v) in autocommit (one transaction)',
    get: "prepare('SELECT v FROM kv WHERE k = ?').pluck().get(k)",
    scan: "prepare('SELECT k, v FROM kv ORDER BY k').raw().iterate()",
  },
  w3Mode: 'application-level group commit: puts queued during one event-loop turn run as one transaction (SQLite has one writer; valid only for independent transactions)',
  backupMethod: 'db.backup(dest) = sqlite3_backup_step, 4096 pages per step',
  async probe() {
    const db = new Database(':memory:');
    const v = db.prepare('select sqlite_version() as v').get();
    db.close();
    return `better-sqlite3 ${pkgVersion()} (SQLite ${/** @type {any} */ (v).v})`;
  },
  async open(dir, { cacheBytes, durability }) {
    const db = new Database(path.join(dir, FILE));
    db.pragma('page_size = 4096');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durability === 'sync' ? 'FULL' : 'OFF'}`);
    db.pragma(`cache_size = ${-Math.round(cacheBytes / 1024)}`);
    db.exec('CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID');
    const putStmt = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    const getStmt = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
    const scanStmt = db.prepare('SELECT k, v FROM kv ORDER BY k').raw();
    const batch = db.transaction((/** @type {Buffer[]} */ keys, /** @type {Buffer[]} */ values) => {
      for (let i = 0; i < keys.length; i++) putStmt.run(keys[i], values[i]);
    });

    // W3: application-level group commit.
    /** @type {{ k: Buffer, v: Buffer, resolve: () => void, reject: (e: unknown) => void }[]} */
    let queue = [];
    let scheduled = false;
    const runQueue = () => {
      scheduled = false;
      const q = queue;
      queue = [];
      try {
        db.transaction(() => {
          for (const e of q) putStmt.run(e.k, e.v);
        })();
        for (const e of q) e.resolve();
      } catch (err) {
        for (const e of q) e.reject(err);
      }
    };

    return {
      writeBatch(keys, values) {
        batch(keys, values);
      },
      async flush() {
        fsyncTree(dir);
        return 'fsync of db + WAL';
      },
      putSync1(key, value) {
        putStmt.run(key, value);
      },
      putConcurrent(key, value) {
        return new Promise((resolve, reject) => {
          queue.push({ k: key, v: value, resolve, reject });
          if (!scheduled) {
            scheduled = true;
            setImmediate(runQueue);
          }
        });
      },
      get(key) {
        return getStmt.get(key);
      },
      scan() {
        let n = 0;
        let bytes = 0;
        for (const row of scanStmt.iterate()) {
          const r = /** @type {Buffer[]} */ (row);
          n++;
          bytes += r[0].length + r[1].length;
        }
        return bytes >= 0 ? n : -1;
      },
      async backup(dest) {
        await db.backup(path.join(dest, FILE), { progress: () => 4096 });
      },
      async close() {
        db.close();
      },
    };
  },
};
