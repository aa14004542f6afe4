// Log histories after failover (docs/BACKUP.md §No silent failover loss), on the real file system
// through the tools: a copy becomes a primary and commits; the old primary, still alive, commits
// too; its log files copied over the new primary's are refused by db_recover -c (exit 1, one
// line naming both histories), which leaves the copy marked (I7); the copy's own log files put
// back recover every commit of the new primary. A hot backup of the new primary (log files of
// both histories, forked at a file) recovers. And on the simulated file system: an environment
// whose log files carry no history (made before histories existed) still opens, recovers and
// fails over; log files of two unrelated histories are refused by the log reader.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment } from '../env/environment.js';
import './register.js'; // env.hotBackup(), env.archive()
import { readControl, writeControl } from '../env/control.js';
import { SimVfs } from '../io/sim.js';
import { LOG_HEADER_SIZE, decodeLogHeader, encodeLogHeader, logFileName } from '../log/file.js';
import { LogReader, listLogFiles } from '../log/reader.js';
import { CorruptionError } from '../util/errors.js';
import { runProcess, tmpDir } from '../testing/toolskit.js';
import type { Vfs } from '../io/vfs.js';
import { testSeeds } from '../util/random.js';

const LOG_FILE_SIZE = 32 * 1024;
const key = (i: number) => `k${String(i).padStart(4, '0')}`;

async function putMany(env: Environment, from: number, count: number, value: string): Promise<void> {
  const db = await env.openDatabase('a.db', { create: true });
  for (let i = from; i < from + count; i++) await env.transaction((t) => db.put(key(i), `${value}.${i}.${'x'.repeat(150)}`, t));
}

/** Every key and value of a.db in a closed environment. */
async function contents(home: string, vfs?: Vfs): Promise<Map<string, string>> {
  const env = await Environment.open(home, { vfs, readOnly: true });
  try {
    const db = await env.openDatabase('a.db');
    const out = new Map<string, string>();
    for (let i = 0; i < 2000; i++) {
      const v = db.get(key(i));
      if (v !== undefined) out.set(key(i), v.toString('utf8'));
    }
    return out;
  } finally {
    await env.close();
  }
}

const logsOf = (dir: string) => fs.readdirSync(dir).filter((n) => /^log\.\d{10}$/.test(n)).sort();

test("the old primary's log files copied over a failed-over copy: db_recover -c exits 1 with the history message; the copy's own logs put back recover every commit", async () => {
  const dir = tmpDir('history');
  const primary = path.join(dir, 'primary');
  const copy = path.join(dir, 'copy');
  const backup = path.join(dir, 'backup');
  fs.mkdirSync(primary);
  const old = await Environment.open(primary, { create: true, autoRemoveLogs: false, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  try {
    await putMany(old, 0, 100, 'before');
    await old.hotBackup(copy);
    // Failover: the copy is recovered and opened read-write; it commits.
    const rec = await runProcess('recover', ['-c', '-h', copy]);
    assert.equal(rec.code, 0, rec.stderr);
    const fo = await Environment.open(copy, { autoRemoveLogs: false, logFileSize: LOG_FILE_SIZE, checkpoint: false });
    try {
      await putMany(fo, 50, 100, 'new');
      // A hot backup of the new primary holds log files of both histories, forked at a file.
      await fo.hotBackup(backup);
    } finally {
      await fo.close();
    }
    // The old primary is still alive and commits too, past the copy's last log file.
    await putMany(old, 50, 300, 'old');
  } finally {
    await old.close();
  }
  const expected = await contents(copy);
  assert.equal(expected.get(key(60))?.startsWith('new.60.'), true);
  assert.equal(expected.get(key(10))?.startsWith('before.10.'), true);
  assert.deepEqual(await contents(backup), expected, 'the hot backup of the failed-over primary recovers to its state');

  const own = new Map(logsOf(copy).map((n) => [n, fs.readFileSync(path.join(copy, n))]));
  const theirs = logsOf(primary);
  assert.ok(theirs.at(-1)! > logsOf(copy).at(-1)!, `the old primary's log (${theirs.at(-1)}) must reach past the copy's (${logsOf(copy).at(-1)}) for this case`);
  for (const n of [...theirs].reverse()) fs.copyFileSync(path.join(primary, n), path.join(copy, n));
  const refused = await runProcess('recover', ['-c', '-h', copy]);
  assert.equal(refused.code, 1, `db_recover -c over the old primary's logs: exit ${refused.code}\n${refused.stdout}${refused.stderr}`);
  assert.match(
    refused.stderr,
    /log file log\.\d{10} belongs to history [0-9a-f]{16}, but this environment continues history [0-9a-f]{16} since its failover at \[\d+\]\[\d+\]: the old primary's logs were copied over it; put back this environment's own log files \(or take a new full backup\)\n$/,
  );
  assert.equal(refused.stderr.trimEnd().split('\n').length, 1, `one line: ${refused.stderr}`);
  // I7: the refusal changes nothing (no 'recovering' marker: issue 16), and a normal open
  // refuses the foreign log files by its own history check.
  assert.equal(readControl((await import('../io/node.js')).nodeVfs, copy)?.state, 'closed');
  await assert.rejects(Environment.open(copy), /belongs to history [0-9a-f]{16}, but this environment continues history/);

  for (const n of logsOf(copy)) if (!own.has(n)) fs.unlinkSync(path.join(copy, n));
  for (const [n, bytes] of own) fs.writeFileSync(path.join(copy, n), bytes);
  const again = await runProcess('recover', ['-c', '-h', copy]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await contents(copy), expected, "with its own log files back, the copy recovers every commit of the new primary");
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Rewrites every log file header with a zero history and parent (as files made before histories). */
function eraseHistories(vfs: SimVfs, home: string): void {
  for (const n of listLogFiles(vfs, home)) {
    const file = path.join(home, logFileName(n));
    const h = vfs.open(file);
    const head = Buffer.alloc(LOG_HEADER_SIZE);
    h.read(head, 0);
    const d = decodeLogHeader(head)!;
    h.write(encodeLogHeader({ fileNo: d.fileNo, fileSize: d.fileSize, envId: d.envId, prevEnd: d.prevEnd }), 0);
    h.sync();
    h.close();
  }
  const c = readControl(vfs, home)!;
  writeControl(vfs, home, { ...c, history: undefined, forkedAt: undefined, fork: undefined });
}

test('an environment whose log files carry no history (zero: unknown) opens, recovers catastrophically and fails over', async () => {
  const vfs = new SimVfs();
  const home = '/env';
  vfs.mkdir(home, { recursive: true });
  let env = await Environment.open(home, { autoRemoveLogs: false, vfs, create: true, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  await putMany(env, 0, 200, 'v');
  await env.close();
  eraseHistories(vfs, home);
  env = await Environment.open(home, { autoRemoveLogs: false, vfs, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  await putMany(env, 200, 10, 'w');
  await env.close();
  assert.equal(readControl(vfs, home)!.history, undefined, 'no history is invented for a log of unknown history');
  await Environment.recover(home, { vfs, catastrophic: true });
  assert.equal(readControl(vfs, home)!.fork, true);
  env = await Environment.open(home, { autoRemoveLogs: false, vfs, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  await putMany(env, 210, 10, 'x');
  await env.close();
  const c = readControl(vfs, home)!;
  assert.match(c.history ?? '', /^[0-9a-f]{16}$/, 'the failover open started a history');
  assert.equal(c.fork, undefined);
  await Environment.recover(home, { vfs, catastrophic: true });
  const got = await contents(home, vfs);
  assert.equal(got.size, 220);
  assert.equal(got.get(key(215))?.startsWith('x.215.'), true);
});

test('the log reader and recovery refuse mixed histories: a file of an unrelated history, and a fork whose parent file goes on past the fork point', async () => {
  const vfs = new SimVfs();
  const home = '/env';
  vfs.mkdir(home, { recursive: true });
  const env = await Environment.open(home, { autoRemoveLogs: false, vfs, create: true, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  await putMany(env, 0, 300, 'v');
  await env.close();
  const files = listLogFiles(vfs, home);
  assert.ok(files.length >= 3);
  const file = path.join(home, logFileName(files[1]!));
  const h = vfs.open(file);
  const head = Buffer.alloc(LOG_HEADER_SIZE);
  h.read(head, 0);
  const d = decodeLogHeader(head)!;
  h.write(encodeLogHeader({ ...d, history: Buffer.alloc(8, 0xab), parent: Buffer.alloc(8, 0xcd) }), 0);
  h.close();
  const reader = new LogReader(vfs, home);
  assert.throws(
    () => reader.findEnd(),
    (e: unknown) => e instanceof CorruptionError && e.file === file && e.offset === 40 && /belongs to history abababababababab, which neither continues history [0-9a-f]{16} of log\.\d{10} nor forked from it/.test(e.message),
  );
  await assert.rejects(Environment.recover(home, { vfs, catastrophic: true }), /neither continues history/);
  assert.equal(readControl(vfs, home)!.state, 'closed', 'the refused recovery leaves the directory as it was (no marker: issue 16)');
  // A fork from the previous file's history, but that file's records go on past the fork point
  // (an old primary's file over the copy's own): refused at the end of the fork's parent records.
  const first = Buffer.alloc(LOG_HEADER_SIZE);
  const h0 = vfs.open(path.join(home, logFileName(files[0]!)), { readOnly: true });
  h0.read(first, 0);
  h0.close();
  const parent = decodeLogHeader(first)!.history!;
  const h1 = vfs.open(file);
  h1.write(encodeLogHeader({ ...d, history: Buffer.alloc(8, 0xab), parent, prevEnd: LOG_HEADER_SIZE }), 0);
  h1.close();
  assert.throws(
    () => new LogReader(vfs, home).findEnd(),
    (e: unknown) => e instanceof CorruptionError && e.file === path.join(home, logFileName(files[0]!)) && e.offset > LOG_HEADER_SIZE && /log records end at offset \d+, but history abababababababab \(log\.\d{10}\) forked from this file's history [0-9a-f]{16} at offset 64/.test(e.message),
  );
  await assert.rejects(Environment.recover(home, { vfs, catastrophic: true }), /log records of history [0-9a-f]{16} go on past offset 64, where history abababababababab \(log\.\d{10}\) forked from it/);
});

class Stop extends Error {}

test('a crash at every sync of the failover open (the fork to a new history), each kept, dropped or torn: reopening recovers, and the control file then names the history of the last log file', async () => {
  // Base: an environment recovered catastrophically (fork pending), closed.
  const base = new SimVfs();
  const home = '/env';
  base.mkdir(home, { recursive: true });
  const env0 = await Environment.open(home, { autoRemoveLogs: false, vfs: base, create: true, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  await putMany(env0, 0, 40, 'v');
  await env0.close();
  await Environment.recover(home, { vfs: base, catastrophic: true });
  assert.equal(readControl(base, home)!.fork, true);
  // The failover open and one commit, counting syncs.
  const run = async (vfs: SimVfs): Promise<void> => {
    const env = await Environment.open(home, { autoRemoveLogs: false, vfs, logFileSize: LOG_FILE_SIZE, checkpoint: false });
    await putMany(env, 100, 1, 'after');
    await env.close();
  };
  const counted = base.crash({ seed: 0, mode: 'keep' });
  let syncs = 0;
  counted.onSync = () => void syncs++;
  await run(counted);
  assert.ok(syncs >= 4, `${syncs} syncs`);
  let cases = 0;
  for (const seed of testSeeds(3)) {
    for (const mode of ['keep', 'drop', 'torn'] as const) {
      for (let at = 1; at <= syncs; at++) {
        const where = `crash before sync ${at} of ${syncs}, mode ${mode} (replay: CAIRN_SEED=${seed})`;
        const vfs = base.crash({ seed: 0, mode: 'keep' });
        let crashed: SimVfs | undefined;
        vfs.onSync = (n) => {
          if (n === at) {
            crashed = vfs.crash({ seed: seed * 1000 + at, mode });
            throw new Stop(where);
          }
        };
        await run(vfs).catch((e: unknown) => {
          if (!(e instanceof Stop) && crashed === undefined) throw e;
        });
        assert.ok(crashed !== undefined, `${where}: no crash`);
        try {
          const env = await Environment.open(home, { autoRemoveLogs: false, vfs: crashed, logFileSize: LOG_FILE_SIZE, checkpoint: false });
          await env.close();
        } catch (e) {
          throw new Error(`${where}: reopening failed: ${(e as Error).message}`, { cause: e });
        }
        const c = readControl(crashed, home)!;
        const files = listLogFiles(crashed, home);
        const head = Buffer.alloc(LOG_HEADER_SIZE);
        const h = crashed.open(path.join(home, logFileName(files.at(-1)!)), { readOnly: true });
        h.read(head, 0);
        h.close();
        const last = decodeLogHeader(head);
        assert.ok(last !== undefined, `${where}: the last log file's header is damaged after a clean close`);
        assert.equal(c.history, last.history!.toString('hex'), `${where}: the control file names another history than the last log file's`);
        assert.equal(c.fork, undefined, `${where}: still a fork pending after a read-write open`);
        const got = await contents(home, crashed);
        assert.equal(got.size === 40 || got.size === 41, true, `${where}: ${got.size} keys`);
        cases++;
      }
    }
  }
  process.stdout.write(`failover-open crash states: ${cases}\n`);
});
