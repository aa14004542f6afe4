// The catalog: the data files of the environment (found by name, opened, created, removed and
// renamed, on disk after the commit: applyFileOp) and the databases inside them (each file's
// catalog B-tree names its databases: DESIGN.md §Data file names).

import { assert } from '../util/assert.js';
import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import { BTree, type DupMode } from '../btree/btree.js';
import { PageType } from '../page/format.js';
import { MetaOffset, initMeta, readMeta } from '../page/meta.js';
import { DataFile, type FilePages, SnapshotReader, inFile, initPageHeader } from '../page/pager.js';
import type { Transaction } from '../txn/txn.js';
import { CairnError, CorruptionError, IoError, invalid } from '../util/errors.js';
import { Database, type Descriptor, type Encodings, badDescriptorRoot, decodeDescriptor, encodeDescriptor } from './database.js';
import { resolveEncoding } from './encoding.js';
import type { Environment } from './environment.js';
import { LOAD_TEMP_PREFIX, fileNameProblem, loadTempPid } from '../recovery/names.js';
import type { OpenDatabaseOptions } from './options.js';
import { openDataFile } from '../recovery/check.js';

export class Catalog {
  /** The database handles opened (closed with the environment, or when their file or name goes). */
  readonly databases = new Set<Database>();

  constructor(private readonly env: Environment) {}

  /** Carries out a committed file removal or rename on disk (after the commit is durable). */
  applyFileOp(op: Transaction['fileOps'][number]): void {
    const f = op.file;
    if (op.kind === 'remove') {
      this.env.pager.dropFile(f);
      if (this.env.vfs.stat(f.path) !== undefined) {
        this.env.vfs.unlink(f.path);
        this.env.vfs.syncDir(path.dirname(f.path));
      }
    } else {
      const to = op.newPath!;
      if (this.env.vfs.stat(f.path) !== undefined) {
        f.handle?.close();
        f.handle = undefined;
        this.env.vfs.rename(f.path, to);
        this.env.vfs.syncDir(path.dirname(to));
      }
      f.name = op.newName!;
      f.path = to;
    }
  }

  /**
   * Removes the temporary files of db_loads that were killed (`.db_load.<pid>.<name>`, names.ts),
   * each with a committed removal: no db_load runs while this process owns the environment (it
   * would own it), so every such file is a load's that never finished (docs/TOOLS.md db_load).
   */
  async removeLoadTemps(): Promise<void> {
    for (const d of this.env.dirs.dataDirs.length > 0 ? this.env.dirs.dataDirs : [this.env.home]) {
      for (const n of this.env.vfs.readdir(d)) {
        if (loadTempPid(n) === undefined || fileNameProblem(n) !== undefined || this.env.resolveDataFile(n) !== path.join(d, n)) continue;
        try {
          if (this.findFile(n) === undefined) continue;
        } catch (e) {
          if (e instanceof CairnError && !(e instanceof IoError)) continue; // not a data file of this environment: left alone
          throw e;
        }
        await this.removeDatabase(n);
      }
    }
  }

  /** A name a new data file may get (DESIGN.md §Data file names); `temporary`: db_load's. */
  private checkFileName(name: string, temporary = false): void {
    const why = fileNameProblem(name);
    if (why !== undefined) throw invalid(why);
    if (!temporary && name.startsWith(LOAD_TEMP_PREFIX)) throw invalid(`database file name ${JSON.stringify(name)} is reserved for db_load's temporary files; choose another name`);
  }

  /** Refuses a path that is a symbolic link (dangling or not): cairn never reads or writes a data file through one. */
  private refuseLink(name: string, p: string): void {
    let h;
    try {
      h = this.env.vfs.open(p, { readOnly: true, noFollow: true });
    } catch (e) {
      if (e instanceof IoError && e.errno === 'ELOOP') throw invalid(`database file ${name} (${p}) is a symbolic link; a data file must be a regular file in a data directory`);
      if (e instanceof IoError && e.errno === 'ENOENT') return;
      throw e;
    }
    h.close();
  }

  /** The data file by name: already open, or opened from disk; undefined when it does not exist. */
  findFile(name: string): DataFile | undefined {
    const why = fileNameProblem(name);
    if (why !== undefined) throw invalid(why);
    const open = this.env.pager.fileByName(name);
    if (open !== undefined) return open;
    const p = this.env.resolveDataFile(name);
    this.refuseLink(name, p);
    if (this.env.vfs.stat(p) === undefined) return undefined;
    const file = openDataFile(this.env.vfs, name, p, this.env.envId);
    if (file === undefined) throw new CorruptionError(p, 0, 'not a cairn data file: its meta page (page 0) is damaged or was never written');
    const existing = this.env.pager.files.get(file.uid);
    if (existing !== undefined && existing.path !== p) {
      throw new CorruptionError(p, 16, `the meta page says file id ${file.uid}, which is ${existing.path}'s: one data file was copied over the other`);
    }
    if (existing !== undefined) return existing;
    this.env.pager.addFile(file);
    readMeta(this.env.pager.read(file, 0, Infinity), p); // verifies the meta page's checksum too
    return file;
  }

  /** The data file by name, or NOT_FOUND when it does not exist. */
  private mustFindFile(name: string): DataFile {
    const file = this.findFile(name);
    if (file === undefined) throw new CairnError('NOT_FOUND', `database file ${name} does not exist`);
    return file;
  }

  private catalog(file: DataFile, reader: { page(n: number): Buffer }): BTree {
    return new BTree(reader.page(0).readUInt32LE(MetaOffset.catalogRoot), 'none');
  }

  /** Names of the databases in a data file ('' is the unnamed database). */
  listDatabases(fileName: string): string[] {
    this.env.checkUsable();
    const file = this.mustFindFile(fileName);
    const r = new SnapshotReader(this.env.pager, file, Infinity);
    const out: string[] = [];
    inFile(file, () => {
      const c = this.catalog(file, r).cursor(r);
      for (let e = c.first(); e !== undefined; e = c.next()) out.push(e[0].toString('utf8'));
    });
    return out;
  }

  /** Opens (or creates) a database: the unnamed one of a file, or a named one inside it. */
  async openDatabase<K = Buffer, V = Buffer>(fileName: string, options: OpenDatabaseOptions<K, V> = {}): Promise<Database<K, V>> {
    const encodings = { key: resolveEncoding<K>(options.keyEncoding, 'key'), value: resolveEncoding<V>(options.valueEncoding, 'value') };
    this.env.checkUsable();
    this.checkFileName(fileName, true);
    const name = options.name;
    if (name !== undefined && typeof name !== 'string') throw invalid('database name must be a string');
    const dup: DupMode = options.duplicates === true ? 'sorted' : options.duplicates === false || options.duplicates === undefined ? 'none' : options.duplicates;
    if (!['none', 'sorted', 'unsorted'].includes(dup)) throw invalid(`duplicates must be 'sorted', 'unsorted' or false, got ${String(options.duplicates)}`);
    const key = Buffer.from(name ?? '', 'utf8');
    let file = this.findFile(fileName);
    if (file !== undefined) {
      const r = new SnapshotReader(this.env.pager, file, Infinity);
      const found = inFile(file!, () => this.catalog(file!, r).get(r, key));
      if (found !== undefined) {
        if (options.create && options.exclusive) throw new CairnError('EXISTS', `database ${fileName}${name ? `:${name}` : ''} exists`);
        const desc = decodeDescriptor(found, fileName);
        // Duplicates are set at creation: an explicit option that differs is refused, not ignored.
        if (options.duplicates !== undefined && dup !== desc.dup) {
          throw invalid(`database ${fileName}${name ? `:${name}` : ''} exists with duplicates ${desc.dup === 'none' ? 'off' : `'${desc.dup}'`}, which the option duplicates: ${JSON.stringify(options.duplicates)} does not match; omit the option, or create a new database for duplicates`);
        }
        return this.env.track(Promise.resolve(this.handle(file, name, desc, encodings)));
      }
      if (!options.create) throw new CairnError('NOT_FOUND', `database ${name ?? '(unnamed)'} does not exist in ${fileName}; pass { create: true } to make it`);
    } else if (!options.create) {
      throw new CairnError('NOT_FOUND', `database file ${fileName} does not exist in ${this.env.home}; pass { create: true } to make it`);
    } else this.checkFileName(fileName, options.temporary === true);
    let desc: Descriptor | undefined;
    await this.env.autoCommit((txn) => {
      let w: FilePages;
      if (file === undefined) {
        file = this.newDataFile(txn, fileName);
        w = txn.writer(file);
      } else w = txn.writer(file);
      const root = BTree.create(w);
      desc = { ...options.descriptor, root, dup };
      this.catalog(file, w).put(w, key, encodeDescriptor(desc));
    });
    return this.handle(file!, name, desc!, encodings);
  }

  // issue 5: db_load creates the databases of a load into an existing file inside its load
  // transaction, so that a load that fails (and aborts) leaves no empty database behind.
  /**
   * @internal Creates a database in an existing data file as part of `txn` (visible only if it
   * commits). Throws EXISTS when the name is taken. Not for use with concurrent writers: the
   * handle keeps the root allocated here even if the transaction is rebased.
   */
  createDatabaseIn(txn: Transaction, fileName: string, options: Omit<OpenDatabaseOptions, 'create' | 'exclusive'> = {}): Database {
    this.env.checkUsable();
    this.env.checkTxn(txn);
    const file = this.mustFindFile(fileName);
    const dup: DupMode = options.duplicates === true ? 'sorted' : options.duplicates === false || options.duplicates === undefined ? 'none' : options.duplicates;
    const key = Buffer.from(options.name ?? '', 'utf8');
    let desc: Descriptor | undefined;
    txn.apply((t) => {
      const w = t.writer(file);
      const cat = this.catalog(file, w);
      if (cat.get(w, key) !== undefined) throw new CairnError('EXISTS', `database ${fileName}${options.name ? `:${options.name}` : ''} exists`);
      desc = { ...options.descriptor, root: BTree.create(w), dup };
      cat.put(w, key, encodeDescriptor(desc));
    });
    return this.handle(file, options.name, desc!);
  }

  /**
   * CAIRN_CHECKS=strict (util/checks.ts): every tree of these data files — the catalog and each
   * database — verifies at the latest committed state, or an AssertionError names the first problem.
   */
  verifyFiles(files: Iterable<DataFile>): void {
    for (const file of files) {
      if (file.removed) continue;
      const r = new SnapshotReader(this.env.pager, file, Infinity);
      const catalog = this.catalog(file, r);
      const problems = inFile(file, () => {
        const out = catalog.verify(r).map((p) => `catalog: ${p}`);
        const c = catalog.cursor(r);
        for (let e = c.first(); e !== undefined; e = c.next()) {
          const d = decodeDescriptor(e[1], file.path);
          for (const p of new BTree(d.root, d.dup).verify(r)) out.push(`database "${e[0].toString('utf8')}": ${p}`);
        }
        return out;
      });
      assert(problems.length === 0, `strict check after a commit: ${file.name}: ${problems.slice(0, 3).join('; ')}`);
    }
  }

  private handle<K = Buffer, V = Buffer>(file: DataFile, name: string | undefined, desc: Descriptor, encodings?: Encodings<K, V>): Database<K, V> {
    const db = new Database<K, V>(this.env, file, name, desc, encodings);
    this.databases.add(db as unknown as Database);
    return db;
  }

  private newDataFile(txn: Transaction, name: string): DataFile {
    let uid: number;
    do uid = randomInt(1, 0xffff_ffff);
    while (this.env.pager.files.has(uid));
    const file = new DataFile(name, this.env.resolveDataFile(name), uid, this.env.pageSize);
    txn.newFiles.push(file);
    const w = txn.writer(file);
    const meta = Buffer.alloc(this.env.pageSize);
    initPageHeader(meta, 0, uid, PageType.Meta);
    initMeta(meta, this.env.pageSize, this.env.envId);
    meta.writeUInt32LE(1, MetaOffset.pageCount);
    w.changed.set(0, meta);
    w.created.add(0);
    meta.writeUInt32LE(BTree.create(w), MetaOffset.catalogRoot);
    return file;
  }

  /** Removes a named database from its file, or (no name) the whole file with its databases. */
  async removeDatabase(fileName: string, name?: string): Promise<void> {
    this.env.checkUsable();
    const file = this.mustFindFile(fileName);
    if (name === undefined) {
      await this.env.autoCommit((txn) => txn.fileOps.push({ kind: 'remove', file }));
      for (const db of this.databases) if (db.file === file) db.markClosed();
      return;
    }
    const key = Buffer.from(name, 'utf8');
    await this.env.autoCommit((txn) => {
      const w = txn.writer(file);
      const cat = this.catalog(file, w);
      const found = cat.get(w, key);
      if (found === undefined) throw new CairnError('NOT_FOUND', `database ${name} does not exist in ${fileName}`);
      const bad = badDescriptorRoot(decodeDescriptor(found, fileName), cat.root); // never drop the catalog (issue 21)
      if (bad !== undefined) throw new CorruptionError(file.path, cat.leafFor(w, key) * file.pageSize, `the catalog entry of database ${fileName}:${name}: ${bad}; run db_verify`);
      new BTree(decodeDescriptor(found, fileName).root, 'none').drop(w);
      cat.del(w, key);
    });
    for (const db of this.databases) if (db.file === file && db.name === name) db.markClosed();
  }

  /** Renames a named database inside its file, or (name undefined) the file itself. */
  async renameDatabase(fileName: string, name: string | undefined, newName: string): Promise<void> {
    this.env.checkUsable();
    const file = this.mustFindFile(fileName);
    if (name === undefined) {
      this.checkFileName(newName);
      if (this.findFile(newName) !== undefined) throw new CairnError('EXISTS', `database file ${newName} exists`);
      const newPath = path.join(path.dirname(file.path), newName);
      await this.env.autoCommit((txn) => txn.fileOps.push({ kind: 'rename', file, newName, newPath }));
      return;
    }
    const from = Buffer.from(name, 'utf8');
    const to = Buffer.from(newName, 'utf8');
    await this.env.autoCommit((txn) => {
      const w = txn.writer(file);
      const cat = this.catalog(file, w);
      const found = cat.get(w, from);
      if (found === undefined) throw new CairnError('NOT_FOUND', `database ${name} does not exist in ${fileName}`);
      if (cat.get(w, to) !== undefined) throw new CairnError('EXISTS', `database ${newName} exists in ${fileName}`);
      cat.del(w, from);
      cat.put(w, to, found);
    });
    for (const db of this.databases) if (db.file === file && db.name === name) db.markClosed();
  }
}
