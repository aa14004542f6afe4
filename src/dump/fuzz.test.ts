// Structure-aware fuzzing of db_load input (issue 4 item 7): Berkeley DB dump text mutated at
// the level of its structure (testing/dumpfuzzcases.ts) and fed to DumpParser in random chunk sizes; every
// LOAD_EVERY-th case also through the loader into a real directory, and a few through the real
// `db_load` program. Oracle: success, or a typed error (CairnError; for the loader also its
// CliError) — never another exception; a failed load leaves the directory byte for byte as it
// was and says so in one line; at most CASE_MS per case (enforced by terminating the worker);
// no Buffer allocation above MAX_ALLOC and a bounded heap.
//
// Replay one case: CAIRN_SEED=<seed> CAIRN_FUZZ_CASE=<case> node --test dist/dump/fuzz.test.js

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { rng, randBytes, testSeeds } from '../util/random.js';
import { runFuzzWorker } from '../testing/fuzzkit.js';
import { runProcess, snapshot, tmpDir } from '../testing/toolskit.js';
import type { DumpFuzzJob } from '../testing/dumpfuzzcases.js';

const NIGHTLY = process.env.CAIRN_NIGHTLY === '1';
const CASES = NIGHTLY ? 200_000 : 4_000;
const LOAD_EVERY = 25;
const CASE_MS = 2_000;
const only = process.env.CAIRN_FUZZ_CASE;

test(`structure-aware fuzzing of db_load input: ${only !== undefined ? `case ${only}` : `${CASES} cases`} (every ${LOAD_EVERY}th through the loader), typed errors only, ≤ ${CASE_MS} ms each, bounded memory`, async () => {
  const job: DumpFuzzJob = { seeds: testSeeds(1, 1), cases: CASES, loadEvery: LOAD_EVERY, ...(only !== undefined ? { only: Number(only) } : {}) };
  const stats = await runFuzzWorker({ module: new URL('../testing/dumpfuzzcases.js', import.meta.url), workerData: { dump: job }, caseMs: CASE_MS, heapMb: 512 });
  const typed = Object.entries(stats.typed).map(([c, n]) => `${c} ${n}`).join(', ');
  process.stdout.write(
    `db_load fuzz: ${stats.cases} cases, ${stats.ok} ok, typed errors: ${typed}; slowest ${stats.maxMs.toFixed(0)} ms; largest allocation ${stats.maxAlloc} bytes; peak rss ${(stats.peakRss / 2 ** 20).toFixed(0)} MiB\n`,
  );
  assert.deepEqual(stats.failures, [], `${stats.failures.length} cases failed:\n${stats.failures.join('\n\n')}`);
  assert.equal(stats.cases, only !== undefined ? job.seeds.length : job.seeds.length * CASES);
  if (only === undefined) {
    const errors = stats.cases - stats.ok;
    assert.ok(errors > stats.cases / 5 && stats.ok > stats.cases / 20, `${stats.ok} ok and ${errors} typed errors: are the mutations landing?`);
  }
});

test('the real db_load program: malformed dumps end with one line on stderr, exit 2, and no change on disk', async () => {
  const home = tmpDir('loadfuzz-bin');
  try {
    const good = 'VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b31\n 7631\nDATA=END\n';
    const first = await runProcess('load', ['-h', home, 'x.db'], { input: good });
    assert.equal(first.code, 0, first.stderr);
    for (const seed of testSeeds(1, 1)) {
      const r = rng(seed);
      const inputs: Array<[string, Buffer]> = [
        ['odd-length hex', Buffer.from(good.replace(' 7631', ' 763'))],
        ['no DATA=END', Buffer.from(good.replace('DATA=END\n', ''))],
        ['huge db_pagesize', Buffer.from(good.replace('type=btree', 'type=btree\ndb_pagesize=99999999999999999999'))],
        ['binary garbage', Buffer.concat([Buffer.from('VERSION=3\n'), randBytes(r, 4096)])],
        ['bad print escape', Buffer.from(good.replace('bytevalue', 'print').replace(' 6b31', ' k\\g1').replace(' 7631', ' v1'))],
      ];
      for (const [name, input] of inputs) {
        const before = snapshot(home);
        const run = await runProcess('load', ['-h', home, 'x.db'], { input });
        const what = `${name} (CAIRN_SEED=${seed})`;
        assert.equal(run.code, 2, `${what}: exit ${run.code}, stderr ${run.stderr}`);
        assert.equal(run.stderr.split('\n').length, 2, `${what}: expected one line on stderr, got ${JSON.stringify(run.stderr)}`);
        assert.ok(run.stderr.startsWith('db_load: '), `${what}: ${run.stderr}`);
        assert.deepEqual(snapshot(home), before, `${what}: the failed load changed the directory`);
      }
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
