// db_archive, db_checkpoint, db_recover and db_hotbackup as an operator runs them: output shape,
// exit status, and bad input (one-line message and usage on stderr, exit 1, nothing changed).

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import { Writer, bin, committed, logsIn, ok, run, snapshot, tmpdir } from '../testing/backupkit.js';
import type { CliIo } from './main.js';

const USAGE: Record<string, RegExp> = {
  db_archive: /^usage: db_archive \[-adlsVv\] \[-h home\] \[--json\]$/m,
  db_checkpoint: /^usage: db_checkpoint \[-1Vv\] \[-h home\] \[-k kbytes\] \[-L file\] \[-p min\]$/m,
  db_recover: /^usage: db_recover \[-cefVv\] \[-h home\] \[-t \[\[CC\]YY\]MMDDhhmm\[\.SS\]\] \[--json\]$/m,
  db_hotbackup: /^usage: db_hotbackup \[-cDFguVv\] \[-d data_dir \.\.\.\] \[-h home\] \[-l log_dir\] -b backup_dir$/m,
};

/** A closed environment with several log files, commits n:1…n:count. */
async function makeEnv(home: string, count: number, opts: { config?: string } = {}): Promise<void> {
  fs.mkdirSync(home, { recursive: true });
  if (opts.config !== undefined) {
    fs.writeFileSync(path.join(home, 'DB_CONFIG'), opts.config);
    for (const m of opts.config.matchAll(/^(?:add_data_dir|set_lg_dir)\s+(\S+)/gm)) fs.mkdirSync(path.join(home, m[1]!), { recursive: true });
  }
  const env = await Environment.open(home, { autoRemoveLogs: false, create: true, logFileSize: 32768, checkpoint: false });
  const db = await env.openDatabase('orders.db', { create: true });
  for (let n = 1; n <= count; n++) {
    await env.transaction((t) => db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(200, 0x63), t), { durability: 'nosync' });
    if (n % 100 === 0) await env.checkpoint();
  }
  await env.close();
}

/** Runs a tool's main() in this process (the bins call the same function), capturing its output. */
async function inProcess(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const mod = (await import(`./${name.slice(3)}.js`)) as { main: (a: string[], io: CliIo) => Promise<number> };
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  const code = await mod.main(args, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/**
 * A refused command: exit 1, nothing on stdout, `prog: message` then the usage on stderr, the
 * given directories unchanged. `spawn`: run the real bin as a process (default: main() in-process).
 */
async function badInput(name: string, args: string[], message: RegExp, unchanged: string[], opts: { usage?: boolean; spawn?: boolean } = {}): Promise<void> {
  const before = unchanged.map((d) => snapshot(d));
  const r = opts.spawn ? await run(name, args) : await inProcess(name, args);
  assert.equal(r.code, 1, `${name} ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stdout, '', `${name} ${args.join(' ')} prints nothing on stdout`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.match(lines[0]!, new RegExp(`^${name}: `));
  assert.match(lines[0]!, message);
  if (opts.usage ?? true) assert.match(r.stderr, USAGE[name]!, `${name}: usage on stderr`);
  unchanged.forEach((d, i) => assert.deepEqual(snapshot(d), before[i], `${name} ${args.join(' ')} changed nothing in ${d}`));
}

test('bad input for every utility: one-line message and usage on stderr, exit 1, nothing changed', async () => {
  const dir = tmpdir('badinput');
  const home = path.join(dir, 'env');
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(empty);
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  try {
    await makeEnv(home, 50);
    const missing = path.join(dir, 'missing');
    for (const name of ['db_archive', 'db_checkpoint', 'db_recover', 'db_hotbackup']) {
      const extra = name === 'db_checkpoint' ? ['-1'] : name === 'db_hotbackup' ? ['-b', path.join(dir, 'bk')] : [];
      await badInput(name, ['-Z', '-h', home, ...extra], /invalid option -- 'Z'/, [home, dir], { spawn: true });
      await badInput(name, ['-P', 'secret', '-h', home, ...extra], /-P: cairn environments are not encrypted; drop -P/, [home, dir]);
      await badInput(name, ['-h', missing, ...extra], new RegExp(`environment home ${missing} does not exist; give the environment directory with -h`), [dir], { spawn: true });
      assert.ok(!fs.existsSync(missing));
      await badInput(name, ['-h', empty, ...extra], new RegExp(`${empty} is not a cairn environment \\(no __cairn\\.control and no log files\\)`), [dir]);
      assert.deepEqual(fs.readdirSync(empty), []);
      await badInput(name, ['-h', home, ...extra, 'stray'], /unexpected argument 'stray'/, [home, dir]);
    }
    await badInput('db_archive', ['-l', '-s', '-h', home], /-l and -s cannot be combined/, [home]);
    await badInput('db_archive', ['-d', '-l', '-h', home], /-d cannot be combined with -a, -l or -s/, [home]);
    await badInput('db_archive', ['-d', '-a', '-h', home], /-d cannot be combined with -a, -l or -s/, [home]);
    await badInput('db_checkpoint', ['-h', home], /at least one of -1, -k and -p must be specified/, [home]);
    await badInput('db_checkpoint', ['-k', 'abc', '-h', home], /-k abc: Invalid numeric argument/, [home]);
    await badInput('db_checkpoint', ['-p', '1', '-h', home], /no process has .* open; the checkpoint daemon \(-k, -p\) works through the application/, [home], { usage: false });
    await badInput('db_recover', ['-t', '2099', '-h', home], /-t 2099: out of range or illegal time specification: \[\[CC\]YY\]MMDDhhmm\[\.SS\]/, [home]);
    await badInput('db_recover', ['-t', '202602301200', '-h', home], /illegal time specification/, [home]);
    await badInput('db_hotbackup', ['-h', home], /no backup directory given: name it with -b/, [home, dir], { spawn: true });
    await badInput('db_hotbackup', ['-c', '-d', '.', '-h', home, '-b', path.join(dir, 'bk')], /-d and -c cannot be combined/, [home, dir]);
    await badInput('db_hotbackup', ['-D', '-l', '.', '-h', home, '-b', path.join(dir, 'bk')], /-D cannot be combined with -d or -l/, [home, dir]);
    await badInput('db_hotbackup', ['-l', 'logs', '-h', home, '-b', path.join(dir, 'bk')], /-l logs: the log directory of .* is .*; cairn copies the log from there/, [home, dir]);
    await badInput('db_hotbackup', ['-h', home, '-b', path.join(file, 'bk')], /cannot use the backup directory .*a-file\/bk \(ENOTDIR\); choose a directory you can write/, [home, dir], { spawn: true });
    await badInput('db_hotbackup', ['-h', home, '-b', file], /exists and is not a directory/, [home, dir]);
    await badInput('db_hotbackup', ['-u', '-h', home, '-b', empty], /holds no backup of this environment to update \(no __cairn\.backup\.json\); run db_hotbackup without -u first/, [home, empty], { usage: false });
    fs.writeFileSync(path.join(empty, 'precious.txt'), 'mine');
    await badInput('db_hotbackup', ['-h', home, '-b', empty], /is not empty and holds no backup of this environment; choose an empty or new directory/, [home, empty], { usage: false });
    fs.unlinkSync(path.join(empty, 'precious.txt'));
    await badInput('db_hotbackup', ['-h', home, '-b', home], /is a directory of the environment itself/, [home], { usage: false });

    // --help says what names are relative to; -V prints the version; both exit 0 on stdout.
    const help = await ok('db_archive', ['--help']);
    assert.match(help.stdout, /Names are relative to the environment home/);
    assert.match(help.stdout, /use -a/);
    for (const name of ['db_archive', 'db_checkpoint', 'db_recover', 'db_hotbackup']) {
      const v = await inProcess(name, ['-V']);
      assert.equal(v.code, 0);
      assert.match(v.stdout, new RegExp(`^${name} \\(cairn \\d+\\.\\d+\\.\\d+; Berkeley DB 5\\.3 utility conventions\\)\\n$`));
      assert.match((await inProcess(name, ['--help'])).stdout, /Exit status: 0 on success/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('db_archive: names relative to the home (also with DB_CONFIG directories), -a absolute, $DB_HOME, -d', async () => {
  const dir = tmpdir('archive');
  const home = path.join(dir, 'env');
  try {
    await makeEnv(home, 400, { config: 'add_data_dir data\nset_create_dir data\nset_lg_dir logs\n' });
    const logs = logsIn(path.join(home, 'logs'));
    assert.ok(logs.length >= 4);
    const l = await ok('db_archive', ['-l', '-h', home]);
    assert.equal(l.stdout, logs.map((n) => `logs/${n}\n`).join(''));
    assert.equal(l.stderr, '');
    // From any directory, -a gives paths that work.
    const la = await ok('db_archive', ['-l', '-a', '-h', home], { cwd: '/' });
    assert.equal(la.stdout, logs.map((n) => `${path.join(home, 'logs', n)}\n`).join(''));
    assert.equal((await ok('db_archive', ['-s', '-h', home])).stdout, 'data/orders.db\n');
    assert.equal((await ok('db_archive', ['-s', '-a', '-h', home])).stdout, `${path.join(home, 'data', 'orders.db')}\n`);
    // Closed cleanly: everything but the last log is inactive.
    const inactive = (await ok('db_archive', ['-h', home])).stdout;
    assert.equal(inactive, logs.slice(0, -1).map((n) => `logs/${n}\n`).join(''));
    const fromEnv = await run('db_archive', [], { cwd: '/', env: { ...process.env, DB_HOME: home } });
    assert.equal(fromEnv.stdout, inactive, '$DB_HOME is the home when -h is not given');
    const json = JSON.parse((await ok('db_archive', ['--json', '-h', home])).stdout);
    assert.deepEqual(json, { home, files: logs.slice(0, -1).map((n) => `logs/${n}`) });
    const d = await ok('db_archive', ['-d', '-h', home]);
    assert.equal(d.stdout, '');
    assert.deepEqual(logsIn(path.join(home, 'logs')), logs.slice(-1));
    assert.equal((await ok('db_archive', ['-h', home])).stdout, '', 'nothing left to list: still exit 0');
    const env = await Environment.open(home); // still opens: nothing needed was removed
    await env.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('db_recover: -v and -f output; -t keeps the later log and says where; works from $DB_HOME', async () => {
  const dir = tmpdir('recover');
  const home = path.join(dir, 'env');
  try {
    // Data files as of an early checkpoint, then two batches of commits in different seconds.
    fs.mkdirSync(home);
    const env = await Environment.open(home, { autoRemoveLogs: false, create: true, logFileSize: 32768, checkpoint: false });
    const db = await env.openDatabase('orders.db', { create: true });
    await env.checkpoint();
    const pit = path.join(dir, 'pit');
    fs.mkdirSync(pit);
    fs.copyFileSync(path.join(home, 'orders.db'), path.join(pit, 'orders.db'));
    for (let n = 1; n <= 100; n++) await env.transaction((t) => db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(300, 1), t), { durability: 'nosync' });
    const firstBatchEnd = new Date();
    await new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000) + 50)); // into a later second
    for (let n = 101; n <= 200; n++) await env.transaction((t) => db.put(`n:${String(n).padStart(9, '0')}`, Buffer.alloc(300, 1), t), { durability: 'nosync' });
    await env.close();
    for (const n of logsIn(home)) fs.copyFileSync(path.join(home, n), path.join(pit, n));
    const logsBefore = logsIn(pit);

    const p2 = (x: number) => String(x).padStart(2, '0');
    const d = firstBatchEnd;
    const stamp = `${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}${p2(d.getHours())}${p2(d.getMinutes())}.${p2(d.getSeconds())}`;
    const r = await ok('db_recover', ['-c', '-t', stamp, '-h', pit]);
    const m = /^Log after the recovery point kept in (.*__cairn\.after-[^ ]+) \(nothing deleted; to undo: move those files back and run db_recover -c\)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const kept = logsIn(m[1]!);
    assert.ok(kept.length >= 1);
    for (const n of kept) assert.ok(logsBefore.includes(n));
    const got = await committed(pit);
    assert.deepEqual([got.count, got.prefix], [100, 100], 'only the commits up to the time');

    const v = await ok('db_recover', ['-c', '-v', '-f', '-h', home]);
    assert.match(v.stdout, /^Recovery \d+% complete\n/);
    assert.match(v.stdout, /Recovery 100% complete\nRecovery starting from \[\d+\]\[64\] \(catastrophic\)\nRecovery complete at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nRecovered \d+ transactions \(\d+ pages redone, \d+ bytes of log\) in \d+ ms; end of log \[\d+\]\[\d+\]\nLast commit applied at \d{12}\.\d\d \(/);
    const quiet = await run('db_recover', [], { cwd: '/', env: { ...process.env, DB_HOME: home } });
    assert.deepEqual([quiet.code, quiet.stdout, quiet.stderr], [0, '', ''], 'normal recovery from $DB_HOME prints nothing');
    assert.equal((await committed(home)).count, 200);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('db_checkpoint: -1 with and without an owner; the daemon checkpoints on -k, writes -L, stops on SIGINT with 130', async () => {
  const dir = tmpdir('ckpt');
  const home = path.join(dir, 'env');
  try {
    await makeEnv(home, 20);
    const one = await ok('db_checkpoint', ['-1', '-v', '-h', home]);
    assert.equal(one.stdout, '');
    assert.match(one.stderr, /^db_checkpoint: checkpoint begin: .+\ndb_checkpoint: checkpoint complete: .+: redo point \[\d+\]\[\d+\]\n$/);
    const writer = new Writer(home, { checkpointKb: 1_000_000, delayMs: 1 });
    try {
      await writer.ready;
      const pidFile = path.join(dir, 'ckp.pid');
      const child = spawn(process.execPath, [bin('db_checkpoint'), '-k', '8', '-v', '-L', pidFile, '-h', home], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
      const exit = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
      for (let i = 0; i < 100 && !/checkpoint complete/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(err, /db_checkpoint: checkpoint complete: .*redo point/);
      assert.match(fs.readFileSync(pidFile, 'utf8'), new RegExp(`^db_checkpoint: ${child.pid} \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}\\n$`));
      child.kill('SIGINT');
      assert.equal(await exit, 130);
      assert.ok(!fs.existsSync(pidFile), '-L file removed on exit');
      const viaOwner = await ok('db_checkpoint', ['-1', '-v', '-h', home]);
      assert.match(viaOwner.stderr, /checkpoint complete/);
    } finally {
      await writer.kill9();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('db_hotbackup: -D layout, -v output, a second backup into one target is refused, a stale lock is not', async () => {
  const dir = tmpdir('hotbk');
  const home = path.join(dir, 'env');
  try {
    await makeEnv(home, 300, { config: 'add_data_dir data\nset_create_dir data\nset_lg_dir logs\n' });
    const bk = path.join(dir, 'bk');
    const r = await ok('db_hotbackup', ['-D', '-v', '-h', home, '-b', bk]);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.match(lines[0]!, /^db_hotbackup: hot backup started at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.ok(lines.includes(`db_hotbackup: copying database ${path.join(home, 'data', 'orders.db')} to ${path.join(bk, 'data', 'orders.db')} (${fs.statSync(path.join(home, 'data', 'orders.db')).size / 4096} pages verified)`), r.stdout);
    assert.ok(lines.some((l) => /^db_hotbackup: copying .*\/logs\/log\.\d{10} to .*\/bk\/logs\/log\.\d{10}$/.test(l)));
    assert.ok(lines.some((l) => /^db_hotbackup: lowest numbered log file copied: \d+$/.test(l)));
    assert.ok(lines.includes(`db_hotbackup: ${bk}: run catastrophic recovery`));
    assert.match(lines[lines.length - 1]!, /^db_hotbackup: hot backup completed at /);
    assert.ok(fs.existsSync(path.join(bk, 'DB_CONFIG')));
    assert.ok(fs.existsSync(path.join(bk, 'data', 'orders.db')));
    assert.ok(logsIn(path.join(bk, 'logs')).length >= 1);
    assert.equal((await committed(bk)).count, 300);
    const m = JSON.parse(fs.readFileSync(path.join(bk, '__cairn.backup.json'), 'utf8'));
    assert.equal(m.layout, 'config');
    assert.deepEqual(Object.keys(m).slice(0, 6), ['format', 'envId', 'source', 'layout', 'kind', 'state']);
    assert.match(m.files.find((f: { kind: string }) => f.kind === 'data').sha256, /^[0-9a-f]{64}$/);

    // Flat, quiet on success; a second run replaces the first.
    const flat = path.join(dir, 'flat');
    assert.deepEqual(await run('db_hotbackup', ['-h', home, '-b', flat]), { code: 0, signal: null, stdout: '', stderr: '' });
    assert.ok(fs.existsSync(path.join(flat, 'orders.db')) && !fs.existsSync(path.join(flat, 'DB_CONFIG')));
    await ok('db_hotbackup', ['-c', '-h', home, '-b', flat]);
    assert.equal((await committed(flat)).count, 300);

    // A second backup into the same target while one runs: a lock held by a live process.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(flat, '__cairn.backup.lock'), JSON.stringify({ pid: holder.pid, startedAt: new Date().toISOString(), token: 'x' }) + '\n');
      const before = snapshot(flat);
      const second = await run('db_hotbackup', ['-h', home, '-b', flat]);
      assert.equal(second.code, 1);
      assert.equal(second.stderr, `db_hotbackup: another db_hotbackup (process ${holder.pid}) is writing to ${flat}; wait for it to finish, or choose another backup directory\n`);
      assert.deepEqual(snapshot(flat), before);
      const rec = await run('db_recover', ['-c', '-h', flat]);
      assert.equal(rec.stderr, `db_recover: a db_hotbackup (process ${holder.pid}) is writing into ${flat}; wait for it to finish (it runs the recovery itself)\n`);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('exit', r));
    }
    await ok('db_hotbackup', ['-h', home, '-b', flat]); // the holder died: its lock is stale
    assert.ok(!fs.existsSync(path.join(flat, '__cairn.backup.lock')));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
