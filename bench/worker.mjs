#!/usr/bin/env node
// One workload of one engine, in its own process so that its peak RSS is its own:
//   node bench/worker.mjs <engine> <workload> '<context JSON>'
// Prints one line "@@RESULT {json}" (the measurements, or {na}, {error}, {unavailable}).
// Engines: lmdb, classic-level, better-sqlite3, cairn, and "machine" (M: the machine limits;
// W2: the raw 4 KiB overwrite + fdatasync loop, run in W2's rotation).
// Workloads: probe, prep, W1, W1r, W2, W3, W4, W5, W6, R1, R2primary, R2standby, M.
import * as workloads from './lib/workloads.mjs';
import { machineLimits, rawCommits } from './lib/machine.mjs';

const [engine, workload, ctxJson] = process.argv.slice(2);
const ctx = JSON.parse(ctxJson ?? '{}');

/** @param {string} line */
const say = (line) => process.stdout.write(line + '\n');

/** @returns {Promise<Record<string, unknown>>} */
async function main() {
  if (engine === 'machine') return { ...(await (workload === 'W2' ? rawCommits(ctx) : machineLimits(ctx))) };
  /** @type {import('./lib/adapter.mjs').Adapter} */
  let adapter;
  try {
    adapter = (await import(`./engines/${engine}.mjs`)).default;
    if (workload === 'probe') {
      const version = await adapter.probe();
      return { version, settings: adapter.settings, w3Mode: adapter.w3Mode, backupMethod: adapter.backupMethod };
    }
  } catch (e) {
    return { unavailable: String(/** @type {Error} */ (e)?.message ?? e) };
  }
  const fn = /** @type {Record<string, Function>} */ (/** @type {unknown} */ (workloads))[workload];
  if (typeof fn !== 'function') throw new Error(`unknown workload ${workload}`);
  return await fn(adapter, ctx, say);
}

/** @type {Record<string, unknown>} */
let result;
try {
  result = await main();
} catch (e) {
  const err = /** @type {Error} */ (e);
  result = err?.name === 'NotApplicable' ? { na: err.message } : { error: String(err?.stack ?? err) };
}
say('@@RESULT ' + JSON.stringify({ ...result, rssMB: process.resourceUsage().maxRSS / 1024 }));
process.exit(0);
