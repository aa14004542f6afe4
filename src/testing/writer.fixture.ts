// Test fixture: a writer process that owns an environment and commits numbered transactions
// with 'sync' durability, printing "ack N" once transaction N's commit has resolved (it is
// durable: I2). The backup and failover tests copy its environment while it runs, kill it with
// SIGKILL, and check that every acknowledged transaction is in the recovered copy.
//
//   node dist/testing/writer.fixture.js <home> [logFileSize] [checkpointKbytes] [delayMs]
//
// Keys are "n:" + 9 digits in orders.db; every 50 commits it yields to the event loop so the
// coordination channel is served.

import { Environment } from '../env/environment.js';

const [home, logSizeArg, ckptArg, delayArg] = process.argv.slice(2);
if (home === undefined) {
  process.stderr.write('usage: node writer.fixture.js <home> [logFileSize] [checkpointKbytes] [delayMs]\n');
  process.exit(2);
}
const delay = Number(delayArg ?? 0);
const env = await Environment.open(home, {
  create: true,
  durability: 'sync',
  logFileSize: Number(logSizeArg ?? 65536),
  checkpoint: { kbytes: Number(ckptArg ?? 128), minutes: 1 },
});
const db = await env.openDatabase('orders.db', { create: true });
let n = db.count();
process.stdout.write(`ready ${process.pid} ${n}\n`);
const payload = Buffer.alloc(150, 0x61);
for (;;) {
  n++;
  const key = `n:${String(n).padStart(9, '0')}`;
  await env.transaction((txn) => db.put(key, Buffer.concat([Buffer.from(`${n} `), payload]), txn));
  process.stdout.write(`ack ${n}\n`);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  else if (n % 50 === 0) await new Promise((r) => setImmediate(r));
}
