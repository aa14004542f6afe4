// DB_CONFIG parsing (bdb-semantics.md §7): every directive cairn honours, the ones it accepts
// and ignores, errors that name the file and line, and formatDbConfig's round trip.

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatDbConfig, parseDbConfig, type EnvConfig } from './config.js';
import { CairnError } from '../util/errors.js';

function configError(text: string, pattern: RegExp, fileName?: string): void {
  assert.throws(
    () => parseDbConfig(text, fileName),
    (err: unknown) => {
      assert.ok(err instanceof CairnError, String(err));
      assert.equal(err.code, 'CONFIG');
      assert.match(err.message, pattern);
      return true;
    },
  );
}

test('every honoured directive', () => {
  const cfg = parseDbConfig(
    [
      '# a comment',
      '',
      'set_data_dir data1',
      'add_data_dir data2',
      'db_data_dir data1',
      'set_create_dir data2',
      'set_lg_dir logs',
      'set_lg_max 1048576',
      'set_lg_bsize 65536',
      'set_cachesize 1 8388608 1',
      'set_flags DB_TXN_WRITE_NOSYNC',
      'log_set_config DB_LOG_AUTO_REMOVE on',
    ].join('\n'),
  );
  assert.deepEqual(cfg, {
    dataDirs: ['data1', 'data2'],
    createDir: 'data2',
    logDir: 'logs',
    logFileSize: 1048576,
    logBufferSize: 65536,
    cacheSize: 2 ** 30 + 8388608,
    durability: 'write-nosync',
    autoRemoveLogs: true,
    ignored: [],
    warnings: [],
  });
});

test('blank, comment, indented and CRLF lines; trailing whitespace; case-insensitive names', () => {
  const cfg = parseDbConfig(
    '\r\n   set_lg_dir ignored\r\n\t# x\r\nSET_LG_DIR  logs  \t\r\n#set_lg_max 1\r\n',
  );
  assert.equal(cfg.logDir, 'logs');
  assert.equal(cfg.logFileSize, undefined);
  assert.deepEqual(parseDbConfig(''), { dataDirs: [], ignored: [], warnings: [] });
});

test('durability flags: last one on wins, off returns to sync, db_log_autoremove alias', () => {
  assert.equal(parseDbConfig('set_flags DB_TXN_NOSYNC').durability, 'nosync');
  assert.equal(
    parseDbConfig('set_flags DB_TXN_NOSYNC\nset_flags DB_TXN_WRITE_NOSYNC on').durability,
    'write-nosync',
  );
  assert.equal(
    parseDbConfig('set_flags DB_TXN_NOSYNC\nset_flags db_txn_nosync off').durability,
    'sync',
  );
  assert.equal(
    parseDbConfig('set_flags DB_TXN_NOSYNC\nset_flags DB_TXN_WRITE_NOSYNC off').durability,
    'nosync',
  );
  assert.equal(parseDbConfig('set_flags DB_LOG_AUTOREMOVE').autoRemoveLogs, true);
  assert.equal(parseDbConfig('log_set_config DB_LOG_AUTO_REMOVE off').autoRemoveLogs, false);
});

test('directives Berkeley DB knows but cairn ignores are listed with their line', () => {
  const cfg = parseDbConfig(
    [
      'set_lk_max_locks 1000',
      'set_lk_max_lockers 1000',
      'set_lk_max_objects 1000',
      'set_tx_max 100',
      'set_lg_regionmax 262144',
      'set_lg_filemode 0600',
      'set_lock_timeout 5000',
      'set_txn_timeout 5000',
      'set_reg_timeout 5000',
      'mutex_set_max 10000',
      'set_open_flags DB_PRIVATE on',
      'set_flags DB_AUTO_COMMIT',
      'set_flags DB_TXN_NOWAIT off',
      'log_set_config DB_LOG_ZERO',
      'set_verbose DB_VERB_RECOVERY',
    ].join('\n'),
  );
  assert.equal(cfg.ignored.length, 15);
  assert.equal(cfg.ignored[0], 'line 1: set_lk_max_locks 1000');
  assert.equal(cfg.ignored[11], 'line 12: set_flags DB_AUTO_COMMIT');
  assert.deepEqual(cfg.dataDirs, []);
});

test('unknown directives and flags name the file and line', () => {
  const seventh = 'set_lg_max 1000000\n\n\n\n\n\nfoo bar';
  configError(seventh, /^DB_CONFIG line 7: unknown directive "foo"; /);
  configError(
    'set_lg_dri logs',
    /\/env\/DB_CONFIG line 1: unknown directive "set_lg_dri"/,
    '/env/DB_CONFIG',
  );
  configError('set_flags DB_TXN_SOMETIMES', /line 1: set_flags: unknown flag "DB_TXN_SOMETIMES"/);
  configError('log_set_config DB_LOG_NOPE', /line 1: log_set_config: unknown flag/);
  configError('set_flags DB_TXN_NOSYNC maybe', /line 1: set_flags: expected "on" or "off"/);
});

test('wrong argument counts', () => {
  configError('set_lg_dir', /line 1: set_lg_dir takes 1 argument, found 0; write it as set_lg_dir/);
  configError('set_lg_dir a b', /line 1: set_lg_dir takes 1 argument, found 2/);
  configError('set_cachesize 0 8388608', /line 1: set_cachesize takes 3 arguments, found 2/);
  configError('set_flags', /set_flags takes 1 to 2 arguments, found 0/);
  configError('set_lk_max_locks', /set_lk_max_locks takes 1 argument, found 0/);
});

test('sizes must be positive decimal integers that fit in 32 bits', () => {
  configError('set_lg_max 10M', /line 1: set_lg_max: "10M" is not a size/);
  configError('set_lg_bsize -5', /set_lg_bsize: "-5" is not a size/);
  configError('set_lg_bsize 0', /set_lg_bsize: 0 is too small; the minimum is 1/);
  configError('set_lg_max 4294967296', /not a size/);
  configError('set_cachesize 0 0 1', /set_cachesize: the cache size must be positive/);
  configError('set_cachesize 0 x 1', /set_cachesize: "x" is not a size/);
});

test('set_lg_max must be at least 4 × set_lg_bsize; set_create_dir must be a data dir', () => {
  configError('set_lg_bsize 65536\nset_lg_max 200000', /line 2: set_lg_max 200000 must be at/);
  assert.equal(parseDbConfig('set_lg_max 262144\nset_lg_bsize 65536').logFileSize, 262144);
  configError('add_data_dir a\nset_create_dir b', /line 2: set_create_dir b is not one of/);
});

test('absolute and .. directories are allowed; absolute ones are warned about', () => {
  const cfg = parseDbConfig('set_lg_dir /var/log/cairn\nadd_data_dir ../common');
  assert.equal(cfg.logDir, '/var/log/cairn');
  assert.deepEqual(cfg.dataDirs, ['../common']);
  assert.equal(cfg.warnings.length, 1);
  assert.match(cfg.warnings[0]!, /^line 1: set_lg_dir \/var\/log\/cairn is absolute/);
});

test('formatDbConfig round-trips through parseDbConfig', () => {
  const configs: EnvConfig[] = [
    { dataDirs: [] },
    {
      dataDirs: ['d1', 'd2'],
      createDir: 'd2',
      logDir: 'logs',
      logFileSize: 10485760,
      logBufferSize: 32768,
      cacheSize: 3 * 2 ** 30 + 12345,
      durability: 'nosync',
      autoRemoveLogs: false,
    },
    { dataDirs: ['x'], durability: 'sync', autoRemoveLogs: true },
    { dataDirs: [], durability: 'write-nosync' },
  ];
  for (const cfg of configs) {
    const text = formatDbConfig(cfg);
    const back = parseDbConfig(text);
    assert.deepEqual(back, { ...cfg, ignored: [], warnings: [] }, text);
  }
  assert.throws(() => formatDbConfig({ dataDirs: ['has space'] }), /cannot write/);
});
