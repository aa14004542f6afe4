// Runs abstract-level's own compliance suite (`abstract-level/test`, CommonJS, on tape)
// against CairnLevel and prints tape's TAP output. Run by level/compliance.test.ts in a child
// process (`node dist/testing/compliance-runner.js`); it can also be run by hand.
//
// Each database the suite makes gets a fresh cairn environment in a directory under one
// temporary root, removed at the end. The environments are opened small (64 KiB log files, a
// 4 MiB cache, no timed checkpoints) because the suite creates about a thousand of them.
//
// Tests named in compliance-excluded.ts are run as skipped, with their reason in the name; they
// are counted (`# excluded N`) and explained in docs/LEVEL.md.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXCLUDED } from './compliance-excluded.js';
import { CairnLevel, type CairnLevelOptions } from '../level/index.js';

const require = createRequire(import.meta.url);

type TestFn = (...args: unknown[]) => unknown;
interface Tape extends TestFn {
  skip: TestFn;
  only: TestFn;
  onFinish(fn: () => void): void;
}

const tape = require('tape') as Tape;
const suite = require('abstract-level/test') as (options: { test: TestFn; factory: (o?: object) => unknown }) => void;

// The suite checks the interface, not durability (the engine's own tests do): its thousand
// environments live on tmpfs when there is one, where fsync costs nothing.
const base = process.env.CAIRN_LEVEL_SUITE_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const root = mkdtempSync(join(base, 'cairn-level-suite-'));
let n = 0;

const factory = (options?: CairnLevelOptions) =>
  new CairnLevel(join(root, `db${n++}`), {
    environment: { logFileSize: 64 * 1024, cacheSize: 4 * 1024 * 1024, checkpoint: false },
    ...options,
  });

let excluded = 0;
const test: Tape = Object.assign(
  (name: unknown, ...rest: unknown[]) => {
    if (typeof name === 'string' && EXCLUDED.has(name)) {
      excluded++;
      return tape.skip(`${name} (excluded: ${EXCLUDED.get(name)})`, ...rest);
    }
    return tape(name, ...rest);
  },
  { skip: tape.skip, only: tape.only, onFinish: tape.onFinish.bind(tape) },
);

tape.onFinish(() => {
  console.log(`# excluded ${excluded}`);
  console.log(`# databases ${n}`);
  rmSync(root, { recursive: true, force: true });
});

suite({ test, factory });
