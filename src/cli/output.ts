// Buffered text output for the tools: stdout through CliIo, or a file (-f) written to a
// temporary name and renamed into place only when the output is complete, so a failed db_dump
// never leaves a partial dump behind under the name asked for.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliIo } from './main.js';

export interface Sink {
  write(text: string): void;
  /** Flushes and, for a file, moves it into place. */
  finish(): void;
  /** Discards a file's partial output (stdout output already written stays written). */
  abort(): void;
}

const CHUNK = 256 * 1024;

class Buffered {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly flushFn: (s: string) => void) {}
  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= CHUNK) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    const s = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.flushFn(s);
  }
}

export function stdoutSink(io: CliIo): Sink {
  const b = new Buffered((s) => io.out(s));
  return { write: (t) => b.write(t), finish: () => b.flush(), abort: () => b.flush() };
}

/** A file sink: a regular file (or a new name) is written beside itself and renamed at the end. */
export function fileSink(file: string): Sink {
  const target = path.resolve(file);
  let direct = false;
  try {
    direct = !fs.statSync(target).isFile(); // /dev/stdout, a FIFO: write in place
  } catch {
    // does not exist yet: the usual case
  }
  const tmp = direct ? target : path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, direct ? 'a' : 'w', 0o644);
  let closed = false;
  const b = new Buffered((s) => {
    const buf = Buffer.from(s, 'utf8');
    let at = 0;
    while (at < buf.length) at += fs.writeSync(fd, buf, at);
  });
  return {
    write: (t) => b.write(t),
    finish: () => {
      b.flush();
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      closed = true;
      if (!direct) fs.renameSync(tmp, target);
    },
    abort: () => {
      if (!closed) {
        try {
          fs.closeSync(fd);
        } catch {
          // nothing to keep
        }
      }
      closed = true;
      if (!direct) fs.rmSync(tmp, { force: true });
    },
  };
}
