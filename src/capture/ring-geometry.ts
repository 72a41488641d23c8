// The geometry of a capture ring (--ring-blocks MiB, cut into blocks of RING_BLOCK_BYTES), for
// `capture --iface/--all-veth` (src/cli/capture.ts) and the ring --k8s shares among pod veths.

/**
 * Ring blocks of 256 KiB, not 1 MiB. The kernel hands a block over when it is full or frameTimeoutMs
 * after its first packet, so at the packet rates of pods (hundreds a second) every block leaves with
 * a few packets in it and a ring rides out a pause of podtap's (the scheduler on a loaded node, a GC)
 * of blocks x frameTimeoutMs, whatever its bytes: 16 blocks of 1 MiB, 0.8 s; 64 of 256 KiB (the same
 * 16 MiB), 3.2 s. The soak of issue 14 lost 7 exchanges to 41 packets dropped in one such pause on a
 * machine loaded 4x over. A frame never spans blocks: packets over 256 KiB (only BIG TCP makes them;
 * GSO packets are 64 KiB) are cut to fit.
 */
export const RING_BLOCK_BYTES = 256 << 10

/** --ring-blocks MiB as blocks of RING_BLOCK_BYTES (1 MiB blocks past the kernel-side cap of 4096 blocks); a given blockSize is kept. */
export function ringGeometry(ringMiB: number, blockSize?: number): { blockSize: number; blockCount: number } {
  if (blockSize !== undefined) return { blockSize, blockCount: ringMiB }
  const perMiB = (1 << 20) / RING_BLOCK_BYTES
  return ringMiB * perMiB <= 4096 ? { blockSize: RING_BLOCK_BYTES, blockCount: ringMiB * perMiB } : { blockSize: 1 << 20, blockCount: ringMiB }
}
