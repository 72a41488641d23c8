// snappyjs 0.7 ships no types: the two functions podtap uses (uncompress for MongoDB OP_COMPRESSED;
// compress only in tests that build such messages).
declare module 'snappyjs' {
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T
}
