// Test fixture: one writer process that owns several environments and commits numbered
// transactions in each at once, with frequent checkpoints, printing "ack I N" once transaction N
// of environment I has committed. Durability 'write-nosync': each commit is written to the
// operating system before it is acknowledged, which a SIGKILL cannot undo (the loop tests kill
// -9, not power loss; fsync per commit would only slow it down). The failover loop
// (backup/failoverloop.test.ts) backs each environment up while it runs, kills the process with SIGKILL
// and checks every recovered copy: one process start serves many rounds of the loop.
//
//   node dist/testing/multiwriter.fixture.js <logFileSize> <checkpointKbytes> <home>...
//
// Keys and values are the writer fixture's: "n:" + 9 digits in orders.db, value "N " + 150 × 'a'.

import { Environment } from '../env/environment.js';

const [logSizeArg, ckptArg, ...homes] = process.argv.slice(2);
if (homes.length === 0) {
  process.stderr.write('usage: node multiwriter.fixture.js <logFileSize> <checkpointKbytes> <home>...\n');
  process.exit(2);
}
const payload = Buffer.alloc(150, 0x61);
const envs = await Promise.all(
  // Every log kept until a backup moves it, as db_hotbackup -u rounds need (README "Log retention").
  homes.map((home) => Environment.open(home, { create: true, durability: 'write-nosync', logFileSize: Number(logSizeArg), checkpoint: { kbytes: Number(ckptArg), minutes: 1 }, autoRemoveLogs: false })),
);
const dbs = await Promise.all(envs.map((env) => env.openDatabase('orders.db', { create: true })));
process.stdout.write(`ready ${process.pid}\n`);
await Promise.all(
  envs.map(async (env, i) => {
    const db = dbs[i]!;
    for (let n = 1; ; n++) {
      const key = `n:${String(n).padStart(9, '0')}`;
      await env.transaction((txn) => db.put(key, Buffer.concat([Buffer.from(`${n} `), payload]), txn));
      process.stdout.write(`ack ${i} ${n}\n`);
      if (n % 20 === 0) await new Promise((r) => setImmediate(r));
    }
  }),
);
