// snappyjs 0.7 ships no types. Tests use its compress as an independent Snappy encoder for the
// MongoDB OP_COMPRESSED messages they build (podtap decodes Snappy itself: mongodb/compression.ts).
declare module 'snappyjs' {
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T
}
