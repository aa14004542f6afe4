// The demo's primary: commits numbered transactions with sync durability and prints
// "ack N" once transaction N's commit has resolved (it is durable: I2). Runs until killed.
//
//   node dist/demo/writer.js <home> [delayMs]

import { Environment } from '../index.js';

const [home, delayArg] = process.argv.slice(2);
if (home === undefined) {
  process.stderr.write('usage: node dist/demo/writer.js <home> [delayMs]\n');
  process.exit(2);
}
const delay = Number(delayArg ?? 0);
const env = await Environment.open(home, { create: true, durability: 'sync', checkpoint: { kbytes: 512, minutes: 1 } });
const db = await env.openDatabase('orders.db', { create: true });
const meta = await env.openDatabase('orders.db', { create: true, name: 'meta' });
const last = db.count();
let n = last;
process.stdout.write(`ready ${process.pid} ${last}\n`);
const payload = Buffer.alloc(200, 0x61);
for (;;) {
  n++;
  const id = `order:${String(n).padStart(9, '0')}`;
  await env.transaction((txn) => {
    db.put(id, Buffer.concat([Buffer.from(`{"n":${n},"at":${Date.now()}}`), payload]), txn);
    meta.put('last', String(n), txn);
  });
  process.stdout.write(`ack ${n}\n`);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  else if (n % 64 === 0) await new Promise((r) => setImmediate(r));
}
