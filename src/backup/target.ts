// The target of a hot backup (hotbackup.ts): where its files go, and the checks that it is a
// directory we may write: never the environment itself (by device and inode, through any link),
// never another environment's copy.

import * as path from 'node:path';
import { CONTROL_FILE, type Control, readControl } from '../env/control.js';
import { readOwner } from '../env/lock.js';
import type { Vfs } from '../io/vfs.js';
import { CairnError } from '../util/errors.js';
import { formatLsn } from '../util/lsn.js';
import { type Dirs, dataDirsOf, readConfig } from './layout.js';
import { BACKUP_LOCK_FILE, MANIFEST_FILE, type Manifest, readManifest } from './manifest.js';

export interface TargetDirs extends Dirs {
  /** Source data directory → target data directory. */
  dataMap: Map<string, string>;
}

export function targetLayout(vfs: Vfs, src: Dirs, target: string, layout: 'flat' | 'config'): TargetDirs {
  const dataMap = new Map<string, string>();
  if (layout === 'flat') {
    for (const d of dataDirsOf(src)) dataMap.set(d, target);
    return { home: target, logDir: target, dataDirs: [], createDir: target, dataMap };
  }
  const cfg = readConfig(vfs, src.home);
  for (const raw of [...(cfg?.dataDirs ?? []), ...(cfg?.logDir !== undefined ? [cfg.logDir] : [])]) {
    const rel = path.relative(src.home, path.resolve(src.home, raw));
    if (path.isAbsolute(raw) || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new CairnError('CONFIG', `-D: DB_CONFIG of ${src.home} names the directory ${raw}, ${path.isAbsolute(raw) ? 'an absolute path' : 'outside the home'}; -D recreates only directories inside the home: make it relative, or back up without -D (everything flat in the backup directory)`);
    }
  }
  const map = (d: string) => path.join(target, path.relative(src.home, d));
  for (const d of dataDirsOf(src)) dataMap.set(d, map(d));
  return { home: target, logDir: map(src.logDir), dataDirs: src.dataDirs.map(map), createDir: map(src.createDir), dataMap };
}

export function regularFiles(vfs: Vfs, dir: string): string[] {
  if (!vfs.stat(dir)?.isDirectory) return [];
  return vfs.readdir(dir).filter((n) => vfs.stat(path.join(dir, n))?.isDirectory === false);
}

/** What a directory is (Vfs.identity: device and inode), or its resolved path on a Vfs without identities. */
function identityOf(vfs: Vfs, p: string): string | undefined {
  try {
    if (vfs.identity !== undefined) return vfs.identity(p);
    return vfs.stat(p) === undefined ? undefined : path.resolve(p);
  } catch {
    return undefined; // cannot be looked at (EACCES): not a directory this backup can touch either
  }
}

/**
 * The identities of `p` — or, when it does not exist yet, of the nearest existing directory it
 * would be made in — and of every directory above it, as the kernel sees them: `..` of what the
 * path leads to, not of its spelling, so that a symlinked or bind-mounted parent is seen through.
 */
function physicalAncestors(vfs: Vfs, p: string): string[] {
  let at = path.resolve(p);
  while (vfs.stat(at)?.isDirectory !== true) {
    const up = path.dirname(at);
    if (up === at) return [];
    at = up;
  }
  const out: string[] = [];
  for (let depth = 0; depth < 1024; depth++) {
    const id = identityOf(vfs, at);
    if (id === undefined || out.includes(id)) break; // the root: its `..` is itself
    out.push(id);
    at = vfs.identity !== undefined ? `${at}${at.endsWith('/') ? '' : '/'}..` : path.dirname(at);
  }
  return out;
}

/**
 * Refuses a backup target that is, is inside, or contains a directory of the environment (its
 * home, log directory, data directories) — however it is spelled: directories are compared by
 * identity (device and inode), never by path, so a symlink, a symlinked parent, a bind mount, a
 * relative path or `..` cannot make the environment's own files look like a backup to replace.
 */
function checkNotTheEnvironment(vfs: Vfs, src: Dirs, targets: Iterable<string>): void {
  const own = new Map<string, string>();
  for (const d of [src.home, src.logDir, ...dataDirsOf(src)]) {
    const id = identityOf(vfs, d);
    if (id !== undefined && !own.has(id)) own.set(id, d);
  }
  const what = (d: string) => `its ${d === src.home ? 'home' : d === src.logDir ? 'log directory' : 'data directory'} ${d}`;
  const alias = (t: string, d: string) => (path.resolve(t) === path.resolve(d) ? '' : ', the same directory under another path: a symlink, a bind mount or ..');
  for (const t of new Set(targets)) {
    const chain = physicalAncestors(vfs, t);
    for (let i = 0; i < chain.length; i++) {
      const d = own.get(chain[i]!);
      if (d === undefined) continue;
      const inside = !(i === 0 && vfs.stat(t)?.isDirectory === true);
      throw new CairnError('INVALID_ARGUMENT', `the backup directory ${t} is ${inside ? 'inside ' : ''}a directory of the environment itself (${what(d)}${inside ? '' : alias(t, d)}); choose a directory outside the environment`);
    }
    const id = identityOf(vfs, t);
    if (id === undefined) continue;
    for (const d of new Set(own.values())) {
      if (physicalAncestors(vfs, d).includes(id)) {
        throw new CairnError('INVALID_ARGUMENT', `the backup directory ${t} contains a directory of the environment (${what(d)}); choose a directory outside the environment`);
      }
    }
  }
}

/**
 * Why a backup directory that holds a backup of this environment must not be replaced or
 * updated, or undefined. The state the last backup run (or db_recover -c) leaves is a control
 * file that says 'closed', still marked to fork (catastrophic recovery sets it; the first
 * read-write open clears it as the copy becomes a primary), with the log end the manifest
 * recorded. Anything else means the copy was opened (failed over to), or a recovery of it was
 * started and did not finish: it may hold the only copy of commits made since.
 */
function ownHistory(prev: Manifest, control: Control | undefined): string | undefined {
  if (control === undefined) return undefined;
  if (control.state === 'open') return `state open`;
  if (control.fork !== true) return `state ${control.state}; its first read-write open forked its log`;
  if (prev.state !== 'recovered') return undefined;
  if (control.state !== 'closed') return `state ${control.state}: a recovery of it did not finish`;
  if (prev.end !== undefined && control.end !== prev.end) return `its log ends at ${formatLsn(control.end)}, the backup's at ${prev.endLsn}; state ${control.state}`;
  return undefined;
}

/**
 * Everything that can be checked about a backup target without changing anything (the CLI runs
 * it before it opens the source, so that a refused backup leaves the source untouched too): not
 * a directory of the source (by identity), a -D layout that can be recreated, no live owner in
 * the target, and contents that are empty or an earlier backup of this environment (a backup
 * manifest; for -u: a backup to update) that nobody opened since. Returns the target's manifest, if any.
 */
export function checkBackupTarget(vfs: Vfs, src: Dirs, envId: Buffer, dir: string, opts: { update?: boolean; layout?: 'flat' | 'config' }): Manifest | undefined {
  const target = path.resolve(dir);
  const envHex = envId.toString('hex');
  const layout = opts.layout ?? 'flat';
  const tdirs = targetLayout(vfs, src, target, layout);
  checkNotTheEnvironment(vfs, src, [target, tdirs.logDir, ...tdirs.dataMap.values()]);
  if (!vfs.stat(target)?.isDirectory) {
    if (opts.update) throw new CairnError('INVALID_ARGUMENT', `${target} holds no backup of this environment to update (it does not exist); run db_hotbackup without -u first`);
    return undefined;
  }
  const owner = readOwner(vfs, target);
  if (owner?.alive) throw new CairnError('LOCKED', `the backup directory ${target} is open as an environment by process ${owner.pid} (a failover copy in use?); refusing to overwrite it`);
  const prev = readManifest(vfs, target);
  let control: Control | undefined;
  try {
    control = readControl(vfs, target);
  } catch {
    control = undefined;
  }
  // Only a directory with a backup manifest of this environment is an earlier backup: a copy
  // of the environment (a control file with its id, no manifest) is an environment, not a backup.
  const holdsOurs = prev?.envId === envHex;
  const entries = vfs.readdir(target).filter((n) => n !== BACKUP_LOCK_FILE);
  if (opts.update) {
    if (prev === undefined || prev.envId !== envHex) {
      throw new CairnError('INVALID_ARGUMENT', `${target} holds no backup of this environment to update (${prev === undefined ? `no ${MANIFEST_FILE}` : `its manifest is for environment ${prev.envId}`}); run db_hotbackup without -u first`);
    }
    if (prev.layout !== layout) throw new CairnError('INVALID_ARGUMENT', `the backup in ${target} was taken ${prev.layout === 'config' ? 'with' : 'without'} -D; update it the same way`);
    if (prev.kind === 'full' && prev.state === 'copying') throw new CairnError('INVALID_ARGUMENT', `the full backup into ${target} never finished copying; take a full backup again (db_hotbackup without -u)`);
  } else if (entries.length > 0 && !holdsOurs) {
    const whose = prev !== undefined ? `a backup of another environment (${prev.envId})` : control?.envId === envHex ? `a copy of this environment (${CONTROL_FILE}, no ${MANIFEST_FILE}), not a backup` : control !== undefined ? `an environment with another id (${control.envId})` : 'no backup of this environment';
    throw new CairnError('INVALID_ARGUMENT', `the backup directory ${target} is not empty and holds ${whose}; choose an empty or new directory (cairn deletes only files of an earlier backup of the same environment, one with a ${MANIFEST_FILE})`);
  }
  if (prev !== undefined && holdsOurs) {
    // Opened read-write since (failed over to?): its log has its own history now; replacing it
    // would lose that, and copying the source's logs over it would mix two histories. (An
    // unreadable control file is not a history of its own: the copy cannot be opened anyway.)
    const why = ownHistory(prev, control);
    if (why !== undefined) {
      throw new CairnError(
        'INVALID_ARGUMENT',
        `${target} was opened as an environment since its last backup (${why}): it has a history of its own now, and ${opts.update ? 'updating it would mix two histories' : 'replacing it would lose the commits made there'}; take a full backup into an empty directory instead (db_hotbackup -b <empty directory>)`,
      );
    }
  }
  return prev;
}
