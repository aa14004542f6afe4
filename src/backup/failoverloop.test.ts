// Issue 16 item 4 (red-team F4): `db_hotbackup -u` followed by the documented `db_recover -c -h
// <copy>` always works, whatever the timing. A backup never removes a log that a data file it
// holds still needs (its meta page's needsLog), and a catastrophic recovery refused by a check
// made before any change leaves the copy as it was (no 'recovering' marker that bricks it).
//
// - deterministic, on SimVfs: the exact F4 condition (a data file's needsLog in a log file
//   before the one of the last commit, which the backup used to remove);
// - deterministic, with the real bins: the same condition through db_hotbackup and db_recover -c,
//   and refused recoveries (a log missing before the manifest's start; a hand copy missing the
//   log its data file needs) that leave the copy's control file byte for byte as it was;
// - the F4 loop: a real writer process commits in several environments at once, with frequent
//   checkpoints and small log files; each gets a full backup and -u rounds (some with -c) at
//   seeded random moments; then kill -9, the primary is lost (half the time after a final
//   `db_hotbackup -u` that copies the rest, as the failover procedure says), `db_recover -c` on
//   the copy, and every acknowledged commit is checked. LOOP_ROUNDS rounds per run (CAIRN_SEED
//   replays one; CAIRN_NIGHTLY=1 runs ten times as many), zero failures allowed.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run as runCommand } from '../cli/main.js';
import { Environment } from '../env/environment.js';
import './register.js'; // env.hotBackup(), env.archive()
import { readControl } from '../env/control.js';
import { nodeVfs } from '../io/node.js';
import { SimVfs } from '../io/sim.js';
import { logFileName } from '../log/file.js';
import { listLogFiles } from '../log/reader.js';
import { formatLsn, lsnFile } from '../util/lsn.js';
import { listDataFiles, readLayout } from './layout.js';
import { MANIFEST_FILE, afterLastCommit, readManifest } from './manifest.js';
import { committed, fixtureProcess, logsIn, run, tmpdir } from '../testing/backupkit.js';
import { rng } from '../util/random.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const LOG_FILE_SIZE = 32 * 1024;
const key = (n: number) => `n:${String(n).padStart(9, '0')}`;

/** Commits until the log has moved `files` log files past where it was. */
async function commitIntoLaterFile(env: Environment, db: Awaited<ReturnType<Environment['openDatabase']>>, from: number, files: number): Promise<number> {
  const start = lsnFile(env.logEnd);
  let n = from;
  while (lsnFile(env.logEnd) < start + files) {
    n++;
    await db.put(key(n), `${n} ${'b'.repeat(300)}`);
  }
  // A few more in the new file: the last commit is past its start.
  for (let i = 0; i < 5; i++) await db.put(key(++n), `${n} ${'b'.repeat(300)}`);
  return n;
}

/** The F4 condition in a recovered backup: some data file needs a log file before the one of the last commit. */
function needsLogBeforeLastCommit(vfs: Parameters<typeof afterLastCommit>[0], dir: string, envId: Buffer): { needs: number; last: number } {
  const dirs = readLayout(vfs, dir);
  const needs = Math.min(...listDataFiles(vfs, dirs, envId).own.map((f) => f.needsLog).filter((l) => l > 0));
  return { needs, last: afterLastCommit(vfs, dirs.logDir, envId) };
}

test('F4 on SimVfs: a hot backup keeps the log its data files need (needsLog before the last commit\'s file); a refused catastrophic recovery leaves the control file as it was', async () => {
  const vfs = new SimVfs();
  vfs.mkdir('/env', { recursive: true });
  const env = await Environment.open('/env', { vfs, create: true, logFileSize: LOG_FILE_SIZE, checkpoint: false });
  const db = await env.openDatabase('orders.db', { create: true });
  let n = 0;
  for (; n < 20; ) await db.put(key(++n), `${n} a`);
  await env.checkpoint(); // needsLog of orders.db: this checkpoint's redo point
  n = await commitIntoLaterFile(env, db, n, 2); // no checkpoint since: the last commit is two files later
  const report = await env.hotBackup('/bk');
  await env.close();
  const { needs, last } = needsLogBeforeLastCommit(vfs, '/bk', env.envId);
  assert.ok(lsnFile(needs) < lsnFile(last), `the F4 condition: needsLog ${formatLsn(needs)} in a file before the last commit's ${formatLsn(last)}`);
  assert.ok(listLogFiles(vfs, '/bk')[0]! <= lsnFile(needs), `the backup keeps ${logFileName(lsnFile(needs))} (it has ${listLogFiles(vfs, '/bk').map(logFileName).join(' ')}; removed ${report.logsRemoved.join(' ')})`);
  const m = readManifest(vfs, '/bk')!;
  assert.ok(m.required <= needs, `the manifest's required ${m.requiredLsn} is not past needsLog ${formatLsn(needs)}`);

  // The documented failover step works, twice.
  for (let i = 0; i < 2; i++) await Environment.recover('/bk', { vfs, catastrophic: true });
  const back = await Environment.open('/bk', { vfs, readOnly: true });
  assert.equal((await back.openDatabase('orders.db')).count(), n);
  await back.close();

  // A copy made by hand without the first log file: refused by the needsLog check, unchanged.
  const control = vfs.readFile('/bk/__cairn.control');
  vfs.unlink(`/bk/${MANIFEST_FILE}`);
  const first = listLogFiles(vfs, '/bk')[0]!;
  const saved = vfs.readFile(`/bk/${logFileName(first)}`);
  vfs.unlink(`/bk/${logFileName(first)}`);
  await assert.rejects(Environment.recover('/bk', { vfs, catastrophic: true }), /data file \/bk\/orders\.db needs the log from \[\d+\]\[\d+\], but the first log file is log\.\d+: copy log\.\d+ from the primary/);
  assert.deepEqual(vfs.readFile('/bk/__cairn.control'), control, 'the refused recovery did not mark the copy');
  vfs.writeFile(`/bk/${logFileName(first)}`, saved);
  await Environment.recover('/bk', { vfs, catastrophic: true });
});

test('F4 with the real bins: db_hotbackup leaves what db_recover -c needs; refused recoveries (a log missing, needsLog) leave the copy opening as before', async () => {
  const dir = tmpdir('f4');
  const primary = path.join(dir, 'primary');
  const bk = path.join(dir, 'bk');
  try {
    const env = await Environment.open(primary, { create: true, logFileSize: LOG_FILE_SIZE, checkpoint: false });
    let n = 0;
    try {
      const db = await env.openDatabase('orders.db', { create: true });
      for (; n < 20; ) await db.put(key(++n), `${n} a`);
      await env.checkpoint();
      n = await commitIntoLaterFile(env, db, n, 2);
      // The owner is this process: db_hotbackup works through its coordination channel.
      const full = await run('db_hotbackup', ['-h', primary, '-b', bk]);
      assert.equal(full.code, 0, full.stderr);
    } finally {
      await env.close();
    }
    fs.rmSync(primary, { recursive: true, force: true }); // the primary's disk is lost
    const rec = await run('db_recover', ['-c', '-h', bk]);
    assert.equal(rec.code, 0, `db_recover -c on the backup: ${rec.stderr}`);
    assert.deepEqual(await committed(bk), { count: n, prefix: n, max: n });

    // Refused by the manifest's start (a log missing): nothing changed, the copy still opens.
    const control = fs.readFileSync(path.join(bk, '__cairn.control'));
    const first = logsIn(bk)[0]!;
    const saved = fs.readFileSync(path.join(bk, first));
    fs.unlinkSync(path.join(bk, first));
    const refused = await run('db_recover', ['-c', '-h', bk]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /later than its recorded start .* are missing/);
    assert.deepEqual(fs.readFileSync(path.join(bk, '__cairn.control')), control, 'no recovering marker');
    assert.deepEqual(await committed(bk), { count: n, prefix: n, max: n });
    // Refused by needsLog (no manifest: a copy made by hand): the same.
    fs.renameSync(path.join(bk, MANIFEST_FILE), path.join(dir, MANIFEST_FILE));
    const refused2 = await run('db_recover', ['-c', '-h', bk]);
    assert.equal(refused2.code, 1);
    assert.match(refused2.stderr, /needs the log from .* copy log\.\d+ from the primary or its archive, then run db_recover -c/);
    assert.deepEqual(fs.readFileSync(path.join(bk, '__cairn.control')), control, 'no recovering marker');
    assert.deepEqual(await committed(bk), { count: n, prefix: n, max: n });
    // The log put back: recovery works again.
    fs.writeFileSync(path.join(bk, first), saved);
    fs.renameSync(path.join(dir, MANIFEST_FILE), path.join(bk, MANIFEST_FILE));
    const again = await run('db_recover', ['-c', '-h', bk]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await committed(bk), { count: n, prefix: n, max: n });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the F4 loop --------------------------------------------------------------------------------

const NIGHTLY = process.env.CAIRN_NIGHTLY === '1';
const LOOP_ROUNDS = Number(process.env.CAIRN_F4_ROUNDS ?? (NIGHTLY ? 500 : 50));
/** Environments per writer process (rounds of the loop run side by side). */
const PER_WRITER = 25;

/** The multi-environment writer fixture as a child process. */
class MultiWriter {
  readonly child: ChildProcess;
  readonly acked: number[];
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private waiters: Array<{ i: number; n: number; resolve: () => void }> = [];
  private readonly err: () => string;

  constructor(homes: string[]) {
    this.acked = homes.map(() => 0);
    const p = fixtureProcess([path.join(here, '..', 'testing', 'multiwriter.fixture.js'), String(LOG_FILE_SIZE), '64', ...homes], (words) => {
      if (words[0] !== 'ack') return;
      const i = Number(words[1]);
      this.acked[i] = Number(words[2]);
      this.waiters = this.waiters.filter((w) => (w.i === i && w.n <= this.acked[i]! ? (w.resolve(), false) : true));
    });
    this.child = p.child;
    this.ready = p.ready;
    this.err = p.stderr;
    this.exited = p.exited.then(() => {
      for (const w of this.waiters) w.resolve(); // nothing more will come
      this.waiters = [];
    });
  }

  get stderr(): string {
    return this.err();
  }

  /** Resolves once environment i has `n` more commits acknowledged (or the writer is gone). */
  more(i: number, n: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const target = this.acked[i]! + n;
    return new Promise((resolve) => this.waiters.push({ i, n: target, resolve }));
  }

  async kill9(): Promise<number[]> {
    this.child.kill('SIGKILL');
    await this.exited;
    return [...this.acked];
  }
}

/** A CLI command run in this process (the bins' own code path), with its output. */
async function tool(name: string, args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const io = { tty: false, out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
  const code = await runCommand(name, args, io);
  return { code, out };
}

/** Every key of orders.db in a recovered copy: a gap-free prefix 1..max, each value its own. */
async function checkCopy(dir: string, atLeast: number): Promise<string | undefined> {
  const env = await Environment.open(dir, { readOnly: true });
  try {
    const db = await env.openDatabase('orders.db');
    let expect = 1;
    for (const [k, v] of db.range()) {
      if (k.toString('utf8') !== key(expect)) return `key ${k.toString('utf8')} where ${key(expect)} was expected (a gap)`;
      if (!v.toString('utf8').startsWith(`${expect} `) || v.length !== String(expect).length + 151) return `the value of ${key(expect)} is wrong`;
      expect++;
    }
    if (expect - 1 < atLeast) return `the copy holds commits 1..${expect - 1}, but ${atLeast} were acknowledged before the backup it relies on`;
    return undefined;
  } finally {
    await env.close();
  }
}

test(`the F4 loop: ${LOOP_ROUNDS} rounds of full backup, -u rounds at random moments while a writer commits and checkpoints, kill -9, primary lost, db_recover -c, every acknowledged commit there`, async () => {
  const seed = process.env.CAIRN_SEED !== undefined ? Number(process.env.CAIRN_SEED) : Math.floor(Math.random() * 2 ** 31);
  const random = rng(seed);
  const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const failures: string[] = [];
  let updates = 0;
  let f4seen = 0;
  for (let batch = 0; batch * PER_WRITER < LOOP_ROUNDS; batch++) {
    const count = Math.min(PER_WRITER, LOOP_ROUNDS - batch * PER_WRITER);
    const dir = tmpdir('f4loop');
    const homes = Array.from({ length: count }, (_, i) => path.join(dir, `p${i}`));
    const backups = homes.map((_, i) => path.join(dir, `b${i}`));
    const writer = new MultiWriter(homes);
    try {
      await writer.ready;
      // Each environment's schedule, drawn before anything runs (the draws do not depend on timing).
      const plans = homes.map(() => ({
        first: pick(5, 60),
        fullCheckpoint: random() < 0.3,
        rounds: Array.from({ length: pick(2, 3) }, () => ({ wait: pick(5, 100), checkpoint: random() < 0.4 })),
        copyRest: random() < 0.5,
      }));
      const tail = pick(0, 100);
      /** Commits acknowledged before the last backup run into each copy started. */
      const covered = homes.map(() => 0);
      await Promise.all(
        plans.map(async (plan, i) => {
          const where = `seed ${seed} batch ${batch} env ${i}`;
          await writer.more(i, plan.first);
          covered[i] = writer.acked[i]!;
          const full = await tool('hotbackup', [...(plan.fullCheckpoint ? ['-c'] : []), '-h', homes[i]!, '-b', backups[i]!]);
          if (full.code !== 0) return void failures.push(`${where}: full db_hotbackup exited ${full.code}: ${full.out}`);
          for (const [r, round] of plan.rounds.entries()) {
            await writer.more(i, round.wait);
            const before = writer.acked[i]!;
            const u = await tool('hotbackup', ['-u', ...(round.checkpoint ? ['-c'] : []), '-h', homes[i]!, '-b', backups[i]!]);
            updates++;
            if (u.code !== 0) return void failures.push(`${where}: db_hotbackup -u (round ${r + 1}) exited ${u.code}: ${u.out}`);
            covered[i] = before;
            const c = needsLogBeforeLastCommit(nodeVfs, backups[i]!, Buffer.from(readManifest(nodeVfs, backups[i]!)!.envId, 'hex'));
            if (lsnFile(c.needs) < lsnFile(c.last)) f4seen++;
          }
        }),
      );
      await writer.more(0, tail);
      const acked = await writer.kill9();
      for (const [i, plan] of plans.entries()) {
        const where = `seed ${seed} batch ${batch} env ${i}`;
        if (failures.some((f) => f.startsWith(`${where}:`))) continue;
        let atLeast = covered[i]!;
        if (plan.copyRest) {
          // The failover procedure with the primary's disk still there: copy the rest (the owner
          // is gone, so db_hotbackup opens the primary itself), then lose the primary.
          const u = await tool('hotbackup', ['-u', '-h', homes[i]!, '-b', backups[i]!]);
          if (u.code !== 0) {
            failures.push(`${where}: db_hotbackup -u after kill -9 exited ${u.code}: ${u.out}`);
            continue;
          }
          atLeast = acked[i]!;
        }
        fs.rmSync(homes[i]!, { recursive: true, force: true });
        const rec = await tool('recover', ['-c', '-h', backups[i]!]);
        if (rec.code !== 0) {
          failures.push(`${where}: db_recover -c exited ${rec.code}: ${rec.out.trim()} (backup holds ${logsIn(backups[i]!).join(' ')}; control ${JSON.stringify(readControl(nodeVfs, backups[i]!))})`);
          continue;
        }
        const why = await checkCopy(backups[i]!, atLeast);
        if (why !== undefined) failures.push(`${where}: ${why}`);
      }
    } finally {
      if (writer.child.exitCode === null && writer.child.signalCode === null) await writer.kill9();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`# F4 loop: seed ${seed}, ${LOOP_ROUNDS} rounds, ${updates} db_hotbackup -u runs, ${f4seen} left a data file needing a log before the last commit's file; ${failures.length} failures`);
  assert.deepEqual(failures, [], `CAIRN_SEED=${seed} replays this run`);
});
