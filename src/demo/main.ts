// `npm run demo`: a live hot failover, end to end, through the real command-line tools.
//
// A writer process commits numbered transactions into a primary environment. The demo keeps a
// failover copy with the five-step procedure of DESIGN.md §1 for a few rounds, kills the
// writer with SIGKILL, finishes the failover, opens the copy and checks that every
// acknowledged transaction is there.
//
//   node dist/demo/main.js [--dir DIR] [--rounds N] [--interval MS]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Environment } from '../index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const bin = (name: string) => path.join(root, 'bin', `${name}.js`);

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: path.join(root, '.demo') },
    rounds: { type: 'string', default: '4' },
    interval: { type: 'string', default: '1200' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('usage: npm run demo -- [--dir DIR] [--rounds N] [--interval MS]\n');
  process.exit(0);
}
const base = path.resolve(values.dir!);
const rounds = Number(values.rounds);
const interval = Number(values.interval);
const primary = path.join(base, 'primary');
const failover = path.join(base, 'failover');
const tty = process.stdout.isTTY === true;

function say(line: string): void {
  if (tty) process.stdout.write('\r\x1b[K');
  process.stdout.write(`${line}\n`);
}

function status(line: string): void {
  if (tty) process.stdout.write(`\r\x1b[K${line}`);
}

/** Runs a cairn tool exactly as an operator would; returns stdout lines; throws on failure. */
function tool(name: string, args: string[]): string[] {
  const r = spawnSync(process.execPath, [bin(name), ...args], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${name} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout.split('\n').filter((l) => l !== '');
}

function copyInto(file: string, dir: string): void {
  fs.copyFileSync(file, path.join(dir, path.basename(file)));
}

async function main(): Promise<number> {
  fs.rmSync(base, { recursive: true, force: true });
  fs.mkdirSync(primary, { recursive: true });
  fs.mkdirSync(failover, { recursive: true });
  // Small log files so that the demo shows logs becoming inactive and moving; every log kept
  // until db_archive moves it, as the five-step procedure needs (README "Log retention").
  fs.writeFileSync(path.join(primary, 'DB_CONFIG'), 'set_lg_max 262144\nlog_set_config DB_LOG_AUTO_REMOVE off\n');
  say(`cairn hot failover demo: primary ${primary}, failover ${failover}`);

  let acked = 0;
  const writer: ChildProcess = spawn(process.execPath, [path.join(here, 'writer.js'), primary], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  let ready: () => void;
  const started = new Promise<void>((r) => (ready = r));
  writer.stdout!.setEncoding('utf8');
  writer.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.startsWith('ack ')) acked = Number(line.slice(4));
      else if (line.startsWith('ready ')) ready();
    }
  });
  const exited = new Promise<void>((r) => writer.on('exit', () => r()));
  await started;
  say(`writer started (pid ${writer.pid}), committing with durability 'sync'`);

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t0 = Date.now();
      const tick = setInterval(() => status(`  writer has acknowledged ${acked} transactions…`), 200);
      setTimeout(() => {
        clearInterval(tick);
        resolve();
        void t0;
      }, ms);
    });

  await sleep(interval);
  // Step 1: the database files, copied while the writer keeps committing.
  const dataFiles = tool('db_archive', ['-s', '-a', '-h', primary]);
  for (const f of dataFiles) copyInto(f, failover);
  say(`step 1  db_archive -s: copied ${dataFiles.length} database file(s): ${dataFiles.map((f) => path.basename(f)).join(' ')}`);

  for (let round = 1; round <= rounds; round++) {
    await sleep(interval);
    const ackedAtCopy = acked;
    // Step 2: move the logs normal recovery no longer needs.
    const inactive = tool('db_archive', ['-a', '-h', primary]);
    for (const f of inactive) {
      copyInto(f, failover);
      fs.fsyncSync(fs.openSync(path.join(failover, path.basename(f)), 'r'));
      fs.unlinkSync(f);
    }
    // Step 3: copy the active logs, newest first: a log file that fills up while we copy is
    // then followed by a copy of its successor that we did not take, never by a half copy of it.
    const all = tool('db_archive', ['-l', '-a', '-h', primary]).reverse();
    for (const f of all) copyInto(f, failover);
    // Step 4: catastrophic recovery on the copy.
    const t0 = performance.now();
    tool('db_recover', ['-c', '-h', failover]);
    const recoverMs = performance.now() - t0;
    const covered = await countCovered(failover);
    say(
      `round ${round}: moved ${inactive.length} inactive log(s), copied ${all.length} active log(s); ` +
        `db_recover -c took ${recoverMs.toFixed(0)} ms; copy covers ${covered.max} transactions (writer had acknowledged ${ackedAtCopy} when the copy began)`,
    );
  }

  await sleep(interval / 2);
  // The primary dies.
  writer.kill('SIGKILL');
  const killedAt = performance.now();
  await exited;
  const acknowledged = acked;
  say(`writer killed with SIGKILL after ${acknowledged} acknowledged transactions`);

  // Finish the failover: the primary's disk survived, so take its remaining logs too.
  const remaining = fs.readdirSync(primary).filter((n) => /^log\.\d{10}$/.test(n));
  for (const n of remaining) copyInto(path.join(primary, n), failover);
  tool('db_recover', ['-c', '-h', failover]);
  const env = await Environment.open(failover, { readOnly: true });
  const db = await env.openDatabase('orders.db');
  const first = db.get(`order:${String(acknowledged).padStart(9, '0')}`);
  const failoverMs = performance.now() - killedAt;
  let recovered = 0;
  let lost = 0;
  for (let n = 1; n <= acknowledged; n++) if (db.get(`order:${String(n).padStart(9, '0')}`) === undefined) lost++;
  recovered = db.count();
  await env.close();
  say(`failover: copied ${remaining.length} remaining log(s), recovered and served the first read in ${failoverMs.toFixed(0)} ms`);
  say('');
  say(`transactions acknowledged: ${acknowledged}`);
  say(`transactions recovered:    ${recovered}${recovered > acknowledged ? ` (${recovered - acknowledged} committed but not yet acknowledged when killed)` : ''}`);
  say(`lost:                      ${lost}`);
  say(`failover time:             ${failoverMs.toFixed(0)} ms`);
  if (lost !== 0 || first === undefined) {
    say('FAILED: acknowledged transactions are missing from the failover copy');
    return 1;
  }
  return 0;
}

async function countCovered(dir: string): Promise<{ max: number }> {
  const env = await Environment.open(dir, { readOnly: true });
  try {
    const meta = await env.openDatabase('orders.db', { name: 'meta' });
    return { max: Number(meta.get('last')?.toString() ?? 0) };
  } finally {
    await env.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    say(`demo failed: ${e.message}`);
    process.exitCode = 1;
  },
);
