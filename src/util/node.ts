// Node built-ins used across layers, typed where @types/node lags (zlib.crc32 is Node ≥ 20.15).
import * as nodeZlib from 'node:zlib';

interface Crc32 {
  crc32(data: Uint8Array | string, value?: number): number;
}
export const zlib = nodeZlib as unknown as typeof nodeZlib & Crc32;
