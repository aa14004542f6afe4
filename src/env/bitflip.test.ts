// Single-bit flips in the pages, log records, headers and control file of a closed
// environment (issue 2, I6): each is detected as a typed error that names the file (and for
// pages and records the offset), or is provably harmless — every value read is the right one.
// Never wrong data, never a crash of another kind, never a hang. The environment, the reader
// and the oracle are testing/corruptkit.ts's, shared with the corruption catalogue (corruption.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimVfs } from '../io/sim.js';
import { rng, randInt, testSeeds } from '../util/random.js';
import { HOME, buildHistory, judge, readAll } from '../testing/corruptkit.js';

const CASES = process.env.CAIRN_NIGHTLY === '1' ? 20_000 : 1_200;

test(`${CASES} single-bit flips are detected with file and offset, or harmless`, async () => {
  const { closed2: files, model2: model } = await buildHistory();
  const targets = [...files.keys()].filter((p) => !p.endsWith('.lock'));
  let detected = 0;
  let harmless = 0;
  for (const seed of testSeeds(1, Number(process.env.CAIRN_SEED ?? 1))) {
    const r = rng(seed);
    for (let i = 0; i < CASES; i++) {
      const path = targets[randInt(r, targets.length)]!;
      const data = Buffer.from(files.get(path)!);
      // Logs are mostly preallocated zeros: aim at the written part most of the time.
      let limit = data.length;
      if (path.includes('log.')) {
        let used = data.length;
        while (used > 0 && data[used - 1] === 0) used--;
        limit = randInt(r, 10) === 0 ? data.length : Math.max(used, 64);
      }
      const offset = randInt(r, limit);
      const bit = randInt(r, 8);
      data[offset]! ^= 1 << bit;
      const copy = new Map(files);
      copy.set(path, data);
      const catastrophic = randInt(r, 3) === 0;
      const what = `case ${i}: bit ${bit} of ${path} byte ${offset}${catastrophic ? ', catastrophic recovery' : ''} (CAIRN_SEED=${seed})`;
      // Detected (naming the file, or the home for an environment-level refusal), or harmless.
      const outcome = await judge(what, { names: [path.slice(path.lastIndexOf('/') + 1), HOME], model }, () => readAll(SimVfs.fromFiles(copy), catastrophic));
      if (outcome === 'detected') detected++;
      else harmless++;
    }
  }
  process.stdout.write(`bit flips: ${detected} detected, ${harmless} harmless\n`);
  assert.ok(detected > CASES / 4, `only ${detected} of ${CASES} flips were detected: are the flips landing?`);
});
