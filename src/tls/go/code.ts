// Instruction boundaries of a Go function on amd64, from a real x86-64 decoder: where its RET
// instructions are (a uprobe on each stands in for a uretprobe, which Go cannot bear: it moves
// goroutine stacks, and a return address rewritten by the kernel makes the runtime abort), and a
// check that the code is what the Go register ABI produces before any probe goes in.
//
// Decoder: iced-x86 (npm, the Rust iced disassembler compiled to WASM; MIT; maintained; loads
// synchronously in Node 20; 0.8 MB). capstone-wasm was the other candidate: older Capstone, an
// async Emscripten module, and no flow-control classification (RET would be found by mnemonic).
// Never a scan for 0xC3 bytes: 0xC3 occurs inside other instructions (immediates, displacements,
// ModRM bytes), and a uprobe on a non-boundary byte corrupts the instruction it lands in.
//
// Measured here (2 shared cores): decoding crypto/tls.(*Conn).Read (Go 1.19: 1024 bytes, 231
// instructions, 7 RETs, the same offsets objdump shows) takes 0.3 ms, (*Conn).Write (1984 bytes,
// 384 instructions, 8 RETs) 0.5 ms; the first decode in a process adds ~15 ms (WASM compile).

import { Decoder, DecoderOptions, FlowControl, Instruction, Register } from 'iced-x86'
import { GoRefusal } from './elf.js'

export interface FunctionCode {
  /** offsets from the function's entry of every RET */
  rets: number[]
  instructions: number
  /** the stack-bound check of the prologue reads g through R14 (Go ≥ 1.17 register ABI) */
  gInR14: boolean
}

/** instructions of the prologue searched for the stack check */
const PROLOGUE = 4

/**
 * Decodes code (the bytes of one function, loaded at ip) to its end. GoRefusal when an instruction
 * does not decode, runs past the end, or no RET is found: never a probe at a guessed address.
 */
export function decodeFunction(code: Buffer, ip: number): FunctionCode {
  const decoder = new Decoder(64, code, DecoderOptions.None)
  const ins = new Instruction()
  const rets: number[] = []
  let n = 0
  let gInR14 = false
  try {
    decoder.ip = BigInt(ip)
    while (decoder.canDecode) {
      const at = decoder.position
      decoder.decodeOut(ins)
      n++
      if (ins.isInvalid) throw new GoRefusal(`code the decoder does not expect: invalid instruction at +0x${at.toString(16)}`)
      if (at + ins.length > code.length) throw new GoRefusal(`code the decoder does not expect: instruction at +0x${at.toString(16)} runs past the function's end`)
      if (n <= PROLOGUE && ins.memoryBase === Register.R14) gInR14 = true
      if (ins.flowControl === FlowControl.Return) rets.push(at)
    }
  } finally {
    ins.free()
    decoder.free()
  }
  if (rets.length === 0) throw new GoRefusal('code the decoder does not expect: no RET instruction in the function')
  return { rets, instructions: n, gInR14 }
}
