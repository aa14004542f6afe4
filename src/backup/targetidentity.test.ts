// Issue 16 items 1 and 2 (red-team F1, F2), through the real db_hotbackup:
//
// - a backup target that is the environment itself, however spelled (a symlink, a symlinked
//   parent, a bind mount, a relative path, `.`/`..`), or that is inside or contains its home, log
//   directory or a data directory, is refused before anything is touched: directories are
//   compared by device and inode; a copy of the environment (its control file, no backup
//   manifest) is not an earlier backup to clear out;
// - a full db_hotbackup into a copy that was failed over to (opened read-write since the last
//   backup, or killed while open) is refused like -u, telling the operator to use an empty
//   directory; a backup that was only recovered (db_recover -c) is still replaced.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import './register.js'; // env.hotBackup(), env.archive()
import { run as runCommand } from '../cli/main.js';
import { SimVfs } from '../io/sim.js';
import { environmentSource, runHotBackup } from './hotbackup.js';
import { readManifest } from './manifest.js';
import { Writer, committed, ok, run, snapshot, tmpdir } from '../testing/backupkit.js';

const key = (n: number) => `n:${String(n).padStart(9, '0')}`;

/** A closed environment with commits n:1…n:count (several log files). */
async function makeEnv(home: string, count: number, config?: string): Promise<void> {
  fs.mkdirSync(home, { recursive: true });
  if (config !== undefined) {
    fs.writeFileSync(path.join(home, 'DB_CONFIG'), config);
    for (const m of config.matchAll(/^(?:add_data_dir|set_lg_dir)\s+(\S+)/gm)) fs.mkdirSync(path.join(home, m[1]!), { recursive: true });
  }
  const env = await Environment.open(home, { create: true, logFileSize: 32768, checkpoint: false });
  const db = await env.openDatabase('orders.db', { create: true });
  for (let n = 1; n <= count; n++) await env.transaction((t) => db.put(key(n), `${n} ${'c'.repeat(200)}`, t), { durability: 'nosync' });
  await env.close();
}

/** db_hotbackup in this process (the bin's own main) or as a process. */
async function hotbackup(args: string[], opts: { cwd?: string; spawn?: boolean } = {}): Promise<{ code: number | null; stderr: string }> {
  if (opts.spawn) return run('db_hotbackup', args, { cwd: opts.cwd });
  let stderr = '';
  const io = { tty: false, out: () => {}, err: (t: string) => void (stderr += t) };
  const cwd = process.cwd();
  if (opts.cwd !== undefined) process.chdir(opts.cwd);
  try {
    return { code: await runCommand('hotbackup', args, io), stderr };
  } finally {
    process.chdir(cwd);
  }
}

/** Refused with `message`, every directory in `unchanged` as it was. */
async function refused(args: string[], message: RegExp, unchanged: string[], opts: { cwd?: string; spawn?: boolean } = {}): Promise<void> {
  const before = unchanged.map((d) => snapshot(d));
  const r = await hotbackup(args, opts);
  const what = `db_hotbackup ${args.join(' ')}${opts.cwd !== undefined ? ` (in ${opts.cwd})` : ''}`;
  assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, message, what);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
  unchanged.forEach((d, i) => assert.deepEqual(snapshot(d), before[i], `${what} changed nothing in ${d}`));
}

const ITSELF = /the backup directory .* is (inside )?a directory of the environment itself \(its (home|log directory|data directory) .*\); choose a directory outside the environment$/m;

test('F1: db_hotbackup -b <the environment under another name> is refused and changes nothing (symlink, symlinked parent, relative, . and .., inside, containing, log and data directories, a copy without manifest)', async () => {
  const dir = tmpdir('f1');
  try {
    const p = path.join(dir, 'p');
    await makeEnv(p, 50);
    fs.symlinkSync(p, path.join(dir, 'link'));
    fs.symlinkSync(dir, path.join(dir, 'parentlink'));
    // The red-team reproduction, with the real bin: a symlink to the primary's home.
    await refused(['-h', p, '-b', path.join(dir, 'link')], ITSELF, [p], { spawn: true });
    await refused(['-u', '-h', p, '-b', path.join(dir, 'link')], ITSELF, [p]);
    await refused(['-h', p, '-b', path.join(dir, 'parentlink', 'p')], ITSELF, [p]);
    await refused(['-h', p, '-b', 'p'], ITSELF, [p], { cwd: dir });
    await refused(['-h', '.', '-b', '.'], ITSELF, [p], { cwd: p });
    await refused(['-h', p, '-b', path.join(dir, 'link', '..', 'p')], ITSELF, [p]);
    await refused(['-h', p, '-b', `${p}/./`], ITSELF, [p]);
    // Inside the home, made through an alias (the directory does not exist yet), or existing.
    await refused(['-h', p, '-b', path.join(dir, 'link', 'sub', 'bk')], /is inside a directory of the environment itself \(its home /, [p]);
    assert.equal(fs.existsSync(path.join(p, 'sub')), false, 'nothing made inside the home');
    fs.mkdirSync(path.join(p, 'old'));
    await refused(['-h', p, '-b', path.join(dir, 'parentlink', 'p', 'old')], /is inside a directory of the environment itself \(its home /, [p]);
    fs.rmdirSync(path.join(p, 'old'));
    // Containing the home.
    const outer = path.join(dir, 'outer');
    await makeEnv(path.join(outer, 'q'), 10);
    await refused(['-h', path.join(outer, 'q'), '-b', outer], /the backup directory .* contains a directory of the environment \(its home /, [outer]);

    // The log directory and a data directory of an environment with DB_CONFIG, through symlinks.
    const r = path.join(dir, 'r');
    await makeEnv(r, 30, 'set_lg_dir logs\nadd_data_dir data\n');
    fs.symlinkSync(path.join(r, 'logs'), path.join(dir, 'logs-link'));
    fs.symlinkSync(path.join(r, 'data'), path.join(dir, 'data-link'));
    await refused(['-h', r, '-b', path.join(dir, 'logs-link')], /is a directory of the environment itself \(its log directory .*, the same directory under another path/, [r]);
    await refused(['-h', r, '-b', path.join(dir, 'data-link')], /is a directory of the environment itself \(its data directory .*, the same directory under another path/, [r]);
    // -D: the target's own log directory would be the source's (the target's logs subdirectory links to it).
    const d = path.join(dir, 'withD');
    fs.mkdirSync(d);
    fs.symlinkSync(path.join(r, 'logs'), path.join(d, 'logs'));
    await refused(['-D', '-h', r, '-b', d], /is a directory of the environment itself \(its log directory .*, the same directory under another path/, [r]);

    // A copy of the environment (control file with its id, no backup manifest) is not a backup to clear out.
    const copy = path.join(dir, 'copy');
    fs.cpSync(p, copy, { recursive: true });
    await refused(['-h', p, '-b', copy], /is not empty and holds a copy of this environment \(__cairn\.control, no __cairn\.backup\.json\), not a backup; choose an empty or new directory/, [p, copy], { spawn: true });

    assert.deepEqual(await committed(p), { count: 50, prefix: 50, max: 50 });
    assert.deepEqual(await committed(r), { count: 30, prefix: 30, max: 30 });
    // And a real backup next to it still works.
    await ok('db_hotbackup', ['-h', p, '-b', path.join(dir, 'bk')]);
    assert.deepEqual(await committed(path.join(dir, 'bk')), { count: 50, prefix: 50, max: 50 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('F1: db_hotbackup -b <a bind mount of the home or of its parent> is refused and changes nothing', async (t) => {
  const dir = tmpdir('f1bind');
  const mounted: string[] = [];
  const mount = (from: string, at: string): string | undefined => {
    fs.mkdirSync(at, { recursive: true });
    const r = spawnSync('mount', ['--bind', from, at], { encoding: 'utf8' });
    if (r.error !== undefined) return `mount: ${r.error.message}`;
    if (r.status !== 0) return `mount --bind: ${r.stderr.trim() || `exit ${r.status}`}`;
    mounted.push(at);
    return undefined;
  };
  try {
    const a = path.join(dir, 'a');
    const p = path.join(a, 'p');
    await makeEnv(p, 40);
    const why = mount(p, path.join(dir, 'm1'));
    if (why !== undefined) {
      // Only the kernel (no privilege for mount) may excuse this test; a missing mount tool under CI may not.
      if (process.env.CI === 'true' && /ENOENT/.test(why)) assert.fail(`CI=true and no mount tool: ${why}`);
      t.skip(`bind mounts are not permitted here (${why})`);
      return;
    }
    assert.equal(mount(a, path.join(dir, 'm2')), undefined);
    await refused(['-h', p, '-b', path.join(dir, 'm1')], /is a directory of the environment itself \(its home .*, the same directory under another path: a symlink, a bind mount or \.\.\)/, [p], { spawn: true });
    await refused(['-h', p, '-b', path.join(dir, 'm1', 'sub')], /is inside a directory of the environment itself \(its home /, [p]);
    await refused(['-h', p, '-b', path.join(dir, 'm2', 'p')], /is a directory of the environment itself \(its home .*, the same directory under another path: a symlink, a bind mount or \.\.\)/, [p]);
    await refused(['-h', p, '-b', path.join(dir, 'm2')], /contains a directory of the environment \(its home /, [p]);
    assert.deepEqual(await committed(p), { count: 40, prefix: 40, max: 40 });
  } finally {
    for (const m of mounted.reverse()) {
      const r = spawnSync('umount', [m]);
      if (r.status !== 0) spawnSync('umount', ['-l', m]);
    }
    // Never remove through a mount that is still there.
    if (mounted.every((m) => spawnSync('mountpoint', ['-q', m]).status !== 0)) fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('F2: a full db_hotbackup into a copy that was failed over to is refused like -u (empty directory advice); an untouched or only recovered backup is still replaced', async () => {
  const dir = tmpdir('f2');
  try {
    const p = path.join(dir, 'p');
    const f = path.join(dir, 'f');
    await makeEnv(p, 100);
    await ok('db_hotbackup', ['-h', p, '-b', f]);
    // Replacing a backup nobody opened, or one only recovered (step 4 of the failover procedure), is fine.
    await ok('db_hotbackup', ['-h', p, '-b', f]);
    await ok('db_recover', ['-c', '-h', f]);
    await ok('db_hotbackup', ['-h', p, '-b', f]);

    // The failover: the copy recovered, opened read-write, 100 new commits, closed.
    await ok('db_recover', ['-c', '-h', f]);
    const env = await Environment.open(f, { logFileSize: 32768 });
    const db = await env.openDatabase('orders.db');
    for (let n = 101; n <= 200; n++) await db.put(key(n), `${n} new`);
    await env.close();
    const EMPTY = /was opened as an environment since its last backup .*: it has a history of its own now, and (updating it would mix two histories|replacing it would lose the commits made there); take a full backup into an empty directory instead/;
    await refused(['-u', '-h', p, '-b', f], EMPTY, [f, p], { spawn: true });
    await refused(['-h', p, '-b', f], EMPTY, [f, p], { spawn: true });
    await refused(['-c', '-h', p, '-b', f], EMPTY, [f, p]);
    assert.deepEqual(await committed(f), { count: 200, prefix: 200, max: 200 }, 'the new primary keeps its commits');

    // A copy being used as a primary and killed (state open): refused too.
    const g = path.join(dir, 'g');
    await ok('db_hotbackup', ['-h', p, '-b', g]);
    await ok('db_recover', ['-c', '-h', g]);
    const w = new Writer(g, { logFileSize: 32768 });
    try {
      await w.ready;
      await w.more(20);
    } finally {
      await w.kill9();
    }
    await refused(['-h', p, '-b', g], EMPTY, [g]);
    // The advice followed: an empty directory.
    await ok('db_hotbackup', ['-h', p, '-b', path.join(dir, 'empty')]);
    assert.deepEqual(await committed(path.join(dir, 'empty')), { count: 100, prefix: 100, max: 100 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a full backup stopped while it cleans out the earlier one (a failed unlink) leaves a directory the next full backup still replaces: the manifest goes last', async () => {
  const vfs = new SimVfs();
  vfs.mkdir('/env', { recursive: true });
  const env = await Environment.open('/env', { vfs, create: true, logFileSize: 32768, checkpoint: false });
  const db = await env.openDatabase('orders.db', { create: true });
  for (let n = 1; n <= 30; n++) await db.put(key(n), `${n} x`);
  await env.hotBackup('/bk');
  vfs.inject({ op: 'unlink', pathIncludes: '__cairn.control', errno: 'EIO' });
  await assert.rejects(runHotBackup(environmentSource(env), '/bk', { vfs }), /EIO/);
  vfs.clearFaults();
  assert.ok(readManifest(vfs, '/bk') !== undefined, 'the manifest is still there');
  await runHotBackup(environmentSource(env), '/bk', { vfs });
  await env.close();
  const back = await Environment.open('/bk', { vfs, readOnly: true });
  assert.equal((await back.openDatabase('orders.db')).count(), 30);
  await back.close();
});
