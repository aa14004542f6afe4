// Key helpers for the B-tree: byte comparison and the order-preserving composite encoding used
// by duplicate trees (see btree.ts §Duplicates and FORMAT.md).
//
//   enc(key) = key with every 0x00 written as 0x00 0xFF, then the terminator 0x00 0x00
//
// enc is prefix-free and memcmp(enc(a) ++ x, enc(b) ++ y) orders by (a, b) first, so a composite
// enc(key) ++ suffix sorts by key, then by suffix. Every composite of `key` lies in
// [enc(key), encHigh(key)) where encHigh(key) = escaped key ++ 0x00 0x01 (0x00 0x01 never occurs
// inside an encoding, so no composite equals it).

/** memcmp of two byte ranges: negative, zero or positive. No allocation. */
export function memcmp2(a: Buffer, ao: number, al: number, b: Buffer, bo: number, bl: number): number {
  const n = al < bl ? al : bl;
  if (n > 24) {
    const c = a.compare(b, bo, bo + n, ao, ao + n);
    return c !== 0 ? c : al - bl;
  }
  for (let i = 0; i < n; i++) {
    const d = a[ao + i] - b[bo + i];
    if (d !== 0) return d;
  }
  return al - bl;
}

/** Length of the common prefix of a[ao..ao+al) and b[bo..bo+bl). */
export function commonPrefix(a: Buffer, ao: number, al: number, b: Buffer, bo: number, bl: number): number {
  const n = al < bl ? al : bl;
  let i = 0;
  while (i < n && a[ao + i] === b[bo + i]) i++;
  return i;
}

function zeros(key: Buffer): number {
  let z = 0;
  let i = key.indexOf(0);
  while (i >= 0) {
    z++;
    i = key.indexOf(0, i + 1);
  }
  return z;
}

/** Writes the escaped key (without terminator) into dst at off; returns the end offset. */
function escapeInto(key: Buffer, dst: Buffer, off: number): number {
  let from = 0;
  let i = key.indexOf(0);
  while (i >= 0) {
    off += key.copy(dst, off, from, i + 1);
    dst[off++] = 0xff;
    from = i + 1;
    i = key.indexOf(0, from);
  }
  off += key.copy(dst, off, from);
  return off;
}

/**
 * enc(key) followed by `extra` bytes of room (returned buffer's length includes them; the caller
 * fills them) — or, with `high`, encHigh(key) (terminator 0x00 0x01, no room).
 */
export function encodeKey(key: Buffer, extra: number, high = false): Buffer {
  const z = zeros(key);
  const out = Buffer.allocUnsafe(key.length + z + 2 + extra);
  const off = escapeInto(key, out, 0);
  out[off] = 0;
  out[off + 1] = high ? 1 : 0;
  return out;
}

/**
 * Index of the terminator's first byte in an encoded composite buf[start..end), or -1 when the
 * bytes are not a valid encoding (an escape other than 0x00 0xFF, or no terminator).
 */
export function terminatorAt(buf: Buffer, start: number, end: number): number {
  let i = buf.indexOf(0, start);
  while (i >= 0 && i < end) {
    if (i + 1 >= end) return -1;
    const b = buf[i + 1];
    if (b === 0) return i;
    if (b !== 0xff) return -1;
    i = buf.indexOf(0, i + 2);
  }
  return -1;
}

/** The user key escaped in buf[start..t): a view when it holds no escapes, else a fresh copy. */
export function unescapeKey(buf: Buffer, start: number, t: number, copy: boolean): Buffer {
  let i = buf.indexOf(0, start);
  if (i < 0 || i >= t) {
    if (!copy) return buf.subarray(start, t);
    const out = Buffer.allocUnsafe(t - start);
    buf.copy(out, 0, start, t);
    return out;
  }
  const parts: Buffer[] = [];
  let from = start;
  while (i >= 0 && i < t) {
    parts.push(buf.subarray(from, i + 1));
    from = i + 2; // skip the 0xFF
    i = buf.indexOf(0, from);
  }
  parts.push(buf.subarray(from, t));
  return Buffer.concat(parts);
}

/** A copy of buf[start..end). */
export function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}
