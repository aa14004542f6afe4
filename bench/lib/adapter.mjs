// The interface every engine adapter in bench/engines/ implements (JSDoc only), and the
// error a workload throws when an engine lacks what it needs ("n/a" in the tables).

/**
 * @typedef {object} OpenOptions
 * @property {number} cacheBytes  engine cache (64 MiB), where the engine has one
 * @property {'sync' | 'relaxed'} durability
 *   'sync': every commit is durable when it returns (W2, W3, W6's writer, reads);
 *   'relaxed': commits are not flushed, `flush()` makes everything durable once (W1, W1r)
 */

/**
 * @typedef {object} Handle  an open database
 * @property {(keys: Buffer[], values: Buffer[]) => void | Promise<void>} writeBatch
 *   one transaction holding all these puts (W1/W1r: 1,000 per transaction)
 * @property {() => Promise<string>} flush  the one sync at the end of a relaxed load; returns what it did
 * @property {(key: Buffer, value: Buffer) => void | Promise<void>} putSync1
 *   one put in its own transaction, durable when it returns/resolves (W2, W6)
 * @property {(key: Buffer, value: Buffer) => Promise<void>} putConcurrent
 *   the same, but many calls may be in flight at once (W3: 64 async writers)
 * @property {(key: Buffer) => Buffer | undefined} get  synchronous point read (W4)
 * @property {() => number | Promise<number>} scan  full ordered scan, returns entries seen (W5)
 * @property {((dest: string) => Promise<void>) | null} backup  online backup into an empty dir, or null
 * @property {() => Promise<void>} close
 */

/**
 * @typedef {object} Adapter
 * @property {string} name
 * @property {() => Promise<string>} probe  version string; throws when the engine cannot be loaded
 * @property {(dir: string, opts: OpenOptions) => Promise<Handle>} open
 * @property {Record<string, string>} settings  the exact settings used, per mode (printed and saved)
 * @property {string} w3Mode  how W3's concurrent writers map onto the engine
 * @property {string} backupMethod
 * @property {((dir: string) => Promise<{ logBytes?: number } | undefined | void>) | undefined} [recover]
 *   catastrophic recovery of a copied environment in place (R1, R2); absent where the engine has none
 * @property {string} [r2Method]
 */

/** Thrown when a workload does not apply to an engine; reported as "n/a" with the reason. */
export class NotApplicable extends Error {
  /** @param {string} reason */
  constructor(reason) {
    super(reason);
    this.name = 'NotApplicable';
  }
}
