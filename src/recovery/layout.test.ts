// The directory layout (src/recovery/layout.ts) over the simulated file system: every DB_CONFIG
// directory directive, relative and absolute directories, several data directories, name
// resolution, which names are data files, and the listing of the data files.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { CairnError } from '../util/errors.js';
import { dataDirsOf, dataFiles, isDataFileName, layout, loadConfig, readLayout, resolveDataFile } from './layout.js';

const HOME = '/env';

function home(config?: string, dirs: string[] = []): SimVfs {
  const vfs = new SimVfs();
  vfs.mkdir(HOME, { recursive: true });
  for (const d of dirs) vfs.mkdir(d, { recursive: true });
  if (config !== undefined) vfs.writeFile(`${HOME}/DB_CONFIG`, Buffer.from(config));
  return vfs;
}

function put(vfs: SimVfs, p: string): void {
  vfs.writeFile(p, Buffer.from('x'));
}

test('no DB_CONFIG: everything is in the home', () => {
  const vfs = home();
  assert.equal(loadConfig(vfs, HOME), undefined);
  assert.deepEqual(readLayout(vfs, HOME), { home: HOME, logDir: HOME, dataDirs: [], createDir: HOME, config: undefined });
  assert.deepEqual(dataDirsOf(readLayout(vfs, HOME)), [HOME]);
  assert.equal(resolveDataFile(vfs, readLayout(vfs, HOME), 'a.db'), `${HOME}/a.db`);
});

test('set_data_dir, add_data_dir, set_create_dir, set_lg_dir: relative to the home, absolute as given', () => {
  const vfs = home('set_data_dir d1\nadd_data_dir /abs/d2\nadd_data_dir ../d3\nset_create_dir /abs/d2\nset_lg_dir logs\n');
  const l = readLayout(vfs, `${HOME}/`); // the home is made absolute and normal
  assert.equal(l.home, HOME);
  assert.deepEqual(l.dataDirs, [`${HOME}/d1`, '/abs/d2', '/d3']);
  assert.equal(l.createDir, '/abs/d2');
  assert.equal(l.logDir, `${HOME}/logs`);
  assert.deepEqual(l.config?.dataDirs, ['d1', '/abs/d2', '../d3']);
  assert.deepEqual(dataDirsOf(l), l.dataDirs);
  // Directive names are case-insensitive; an indented line is a comment (as in Berkeley DB).
  const v2 = home('SET_LG_DIR /logs\n  set_data_dir ignored\n');
  assert.deepEqual(readLayout(v2, HOME), { home: HOME, logDir: '/logs', dataDirs: [], createDir: HOME, config: loadConfig(v2, HOME) });
});

test('without set_create_dir, new files go to the first data directory', () => {
  const l = layout(HOME, loadConfig(home('add_data_dir a\nadd_data_dir b\n'), HOME));
  assert.equal(l.createDir, `${HOME}/a`);
  assert.equal(l.logDir, HOME);
});

test('a name resolves to the first data directory holding it, else the create directory; absolute names as given', () => {
  const vfs = home('add_data_dir a\nadd_data_dir b\nadd_data_dir c\nset_create_dir c\n', [`${HOME}/a`, `${HOME}/b`, `${HOME}/c`]);
  const l = readLayout(vfs, HOME);
  put(vfs, `${HOME}/b/x.db`);
  put(vfs, `${HOME}/c/x.db`);
  put(vfs, `${HOME}/x.db`); // the home is no data directory when there are data directories
  assert.equal(resolveDataFile(vfs, l, 'x.db'), `${HOME}/b/x.db`);
  assert.equal(resolveDataFile(vfs, l, 'new.db'), `${HOME}/c/new.db`);
  assert.equal(resolveDataFile(vfs, l, '/elsewhere/y.db'), '/elsewhere/y.db');
  put(vfs, `${HOME}/a/x.db`);
  assert.equal(resolveDataFile(vfs, l, 'x.db'), `${HOME}/a/x.db`);
});

test('data file names: everything but the environment\'s own files, DB_CONFIG, log files and .tmp files', () => {
  for (const n of ['a.db', 'data', 'log.1', 'log.00000000001', 'cairn.control', 'DB_CONFIG.bak', '.db_load.12.x']) assert.equal(isDataFileName(n), true, n);
  for (const n of ['__cairn.control', '__cairn.lock', '__cairn.anything', 'DB_CONFIG', 'log.0000000001', 'log.4294967295', 'a.db.tmp', '.tmp']) assert.equal(isDataFileName(n), false, n);
});

test('dataFiles: the data files of every data directory, the first of each name, no directories', () => {
  const vfs = home('add_data_dir a\nadd_data_dir b\n', [`${HOME}/a`, `${HOME}/b`, `${HOME}/a/sub`]);
  const l = readLayout(vfs, HOME);
  for (const p of ['a/one.db', 'a/__cairn.x', 'a/two.tmp', 'b/one.db', 'b/two.db', 'b/log.0000000001', 'b/sub', 'home.db']) put(vfs, `${HOME}/${p}`);
  assert.deepEqual([...dataFiles(vfs, l)].sort(), [
    ['one.db', `${HOME}/a/one.db`],
    ['sub', `${HOME}/b/sub`], // a/sub is a directory: b's file of that name is the data file
    ['two.db', `${HOME}/b/two.db`],
  ]);
  // Without data directories the home is listed; DB_CONFIG is no data file.
  const h = home('set_lg_dir logs\n');
  put(h, `${HOME}/d.db`);
  assert.deepEqual([...dataFiles(h, readLayout(h, HOME))], [['d.db', `${HOME}/d.db`]]);
});

test('dataFiles: a missing data directory is an error, or skipped when asked', () => {
  const vfs = home('add_data_dir gone\nadd_data_dir b\n', [`${HOME}/b`]);
  put(vfs, `${HOME}/b/x.db`);
  const l = readLayout(vfs, HOME);
  assert.throws(() => dataFiles(vfs, l), CairnError);
  assert.deepEqual([...dataFiles(vfs, l, { skipMissingDirs: true })], [['x.db', `${HOME}/b/x.db`]]);
});

test('a malformed DB_CONFIG is a CairnError(CONFIG) naming the file and line', () => {
  const vfs = home('set_data_dir a\nset_lg_dri logs\n');
  assert.throws(
    () => readLayout(vfs, HOME),
    (e: unknown) => e instanceof CairnError && e.code === 'CONFIG' && /\/env\/DB_CONFIG.* line 2/.test(e.message),
  );
});
