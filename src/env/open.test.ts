// The open decision (env/open.ts planOpen): every row of the table, with the facts that pick
// it, and the refusals with their codes. Pure: no files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CairnError } from '../util/errors.js';
import type { Control } from './control.js';
import { type OpenFacts, planOpen } from './open.js';

const control = (over: Partial<Control> = {}): Control => ({ version: 1, envId: '00'.repeat(16), state: 'closed', redo: 0, checkpoint: 0, end: 0, nextTxn: 1, logFileSize: 1 << 20, ...over });

function facts(over: Partial<OpenFacts>): OpenFacts {
  return { home: '/h', control: undefined, logs: 0, staleOwner: false, options: {}, foreignLogs: () => false, logDir: '/h', ...over };
}

function refused(f: OpenFacts, code: string, message: RegExp): void {
  assert.throws(() => planOpen(f), (e: Error) => e instanceof CairnError && e.code === code && message.test(e.message));
}

test('planOpen: no control file', () => {
  assert.equal(planOpen(facts({ options: { create: true } })), 'create');
  refused(facts({}), 'NOT_FOUND', /is not a cairn environment/);
  assert.equal(planOpen(facts({ logs: 2, options: { recover: 'catastrophic' } })), 'catastrophic');
  refused(facts({ logs: 2 }), 'RUN_RECOVERY', /has log files but no/);
  refused(facts({ logs: 2, foreignLogs: () => true }), 'CONFIG', /holds another environment's logs/);
  refused(facts({ options: { readOnly: true } }), 'RUN_RECOVERY', /before opening it read-only/);
  refused(facts({ logs: 1, options: { readOnly: true, create: true } }), 'RUN_RECOVERY', /before opening it read-only/);
  // Logs of another environment are looked for only when they would decide.
  let asked = 0;
  planOpen(facts({ options: { create: true }, foreignLogs: () => ++asked > 0 }));
  assert.equal(asked, 0);
});

test('planOpen: a control file', () => {
  assert.equal(planOpen(facts({ control: control() })), 'clean');
  assert.equal(planOpen(facts({ control: control({ state: 'open' }) })), 'normal');
  assert.equal(planOpen(facts({ control: control(), staleOwner: true })), 'normal');
  assert.equal(planOpen(facts({ control: control(), options: { recover: 'normal' } })), 'normal');
  assert.equal(planOpen(facts({ control: control(), options: { recover: 'catastrophic' } })), 'catastrophic');
  assert.equal(planOpen(facts({ control: control({ state: 'recovering', recovery: 'catastrophic' }), options: { recover: 'catastrophic' } })), 'catastrophic');
  refused(facts({ control: control({ state: 'recovering', recovery: 'catastrophic' }) }), 'RUN_RECOVERY', /did not finish/);
  refused(facts({ control: control({ state: 'open' }), options: { readOnly: true } }), 'RUN_RECOVERY', /needs recovery/);
  assert.equal(planOpen(facts({ control: control(), options: { readOnly: true } })), 'clean');
});
