// Classic BPF → eBPF, as the kernel converts a socket filter it is given
// (net/core/filter.c, bpf_convert_filter), so the fast path can put its own
// eBPF check in front of the classic filter lvsd compiles (src/io/bpf.ts):
// a packet socket holds one filter, and only an eBPF one can look a flow up
// in a map.
//
// Registers: A is R0 (the legacy packet loads return there), X is R7, R8 a
// temporary across the loads that clobber R0-R5, and the context (the skb)
// stays in R6, where the legacy loads expect it. Scratch word M[k] is the
// stack word at R10 - 4 * (16 - k). Comparisons use 32-bit jumps, as
// classic BPF compares 32-bit A. Ancillary loads: SKF_AD_PROTOCOL and
// SKF_AD_RANDOM (the only ones lvsd's filters use); any other is refused.
import { BPF_ABS, BPF_ALU, BPF_DIV, BPF_IMM, BPF_IND, BPF_JA, BPF_JMP, BPF_LD, BPF_LDX, BPF_LEN, BPF_MEM, BPF_MISC,
  BPF_MOD, BPF_MSH, BPF_NEG, BPF_RET, BPF_ST, BPF_STX, BPF_TXA, BPF_X, SKF_AD_OFF, SKF_AD_RANDOM } from './bpf.js';
import { AND, Asm, B, FN_get_prandom_u32, JNE, LSH, NEG, R0, R6, R7, R8, R10, SKB_LEN, SKB_PROTOCOL, W } from './ebpf.js';

const SKF_AD_PROTOCOL = 0;

function memOff(k: number): number {
  if (k < 0 || k > 15) throw new Error(`classic BPF scratch word M[${k}] out of range`);
  return -4 * (16 - k);
}

/**
 * Appends the classic program `prog` (flat [code, jt, jf, k] words) to `a`.
 * R6 must hold the skb already. Labels are prefixed with `prefix` so one
 * assembler can hold more than one translation.
 */
export function emitClassic(a: Asm, prog: Uint32Array, prefix = 'c'): void {
  const n = prog.length / 4;
  const at = (i: number) => {
    if (i < 0 || i >= n) throw new Error(`classic BPF jump to ${i} outside the program (${n} instructions)`);
    return `${prefix}${i}`;
  };
  a.mov32K(R0, 0).mov32K(R7, 0);
  for (let i = 0; i < n; i++) {
    const code = prog[i * 4]!;
    const jt = prog[i * 4 + 1]!;
    const jf = prog[i * 4 + 2]!;
    const k = prog[i * 4 + 3]! >>> 0;
    a.label(at(i));
    const cls = code & 0x07;
    const size = code & 0x18;
    const mode = code & 0xe0;
    switch (cls) {
      case BPF_LD:
        if (mode === BPF_ABS) {
          if (k >= (SKF_AD_OFF >>> 0)) {
            const ad = k - (SKF_AD_OFF >>> 0);
            if (ad === SKF_AD_RANDOM) a.call(FN_get_prandom_u32);
            else if (ad === SKF_AD_PROTOCOL) a.ldx(W, R0, R6, SKB_PROTOCOL).toBe(R0, 16);
            else throw new Error(`classic BPF ancillary load ${ad} is not translated`);
          } else {
            a.ldAbs(size, k | 0);
          }
        } else if (mode === BPF_IND) a.ldInd(size, R7, k | 0);
        else if (mode === BPF_IMM) a.mov32K(R0, k);
        else if (mode === BPF_MEM) a.ldx(W, R0, R10, memOff(k));
        else if (mode === BPF_LEN) a.ldx(W, R0, R6, SKB_LEN);
        else throw new Error(`classic BPF load mode ${mode} unknown`);
        break;
      case BPF_LDX:
        if (mode === BPF_IMM) a.mov32K(R7, k);
        else if (mode === BPF_MEM) a.ldx(W, R7, R10, memOff(k));
        else if (mode === BPF_LEN) a.ldx(W, R7, R6, SKB_LEN);
        else if (mode === BPF_MSH) {
          // X = 4 * (pkt[k] & 0xf); the load clobbers R0, which holds A.
          a.movX(R8, R0).ldAbs(B, k | 0).alu32K(AND, R0, 0xf).alu32K(LSH, R0, 2).mov32X(R7, R0).movX(R0, R8);
        } else throw new Error(`classic BPF ldx mode ${mode} unknown`);
        break;
      case BPF_ST:
        a.stx(W, R10, memOff(k), R0);
        break;
      case BPF_STX:
        a.stx(W, R10, memOff(k), R7);
        break;
      case BPF_ALU: {
        const op = code & 0xf0;
        if (op === BPF_NEG) { a.alu32K(NEG, R0, 0); break; }
        if ((code & BPF_X) !== 0) {
          if (op === BPF_DIV || op === BPF_MOD) {
            // Classic BPF ends the program with 0 on a division by X = 0.
            const ok = a.fresh(`${prefix}div`);
            a.jmp32K(JNE, R7, 0, ok).mov32K(R0, 0).exit().label(ok);
          }
          a.alu32X(op, R0, R7);
        } else {
          a.alu32K(op, R0, k | 0);
        }
        break;
      }
      case BPF_JMP: {
        const op = code & 0xf0;
        if (op === BPF_JA) { a.ja(at(i + 1 + k)); break; }
        if ((code & BPF_X) !== 0) a.jmp32X(op, R0, R7, at(i + 1 + jt));
        else a.jmp32K(op, R0, k | 0, at(i + 1 + jt));
        if (jf !== 0) a.ja(at(i + 1 + jf));
        break;
      }
      case BPF_RET:
        if ((code & 0x18) === 0x10) a.exit(); // RET A
        else if ((code & 0x18) === 0x08) a.mov32X(R0, R7).exit(); // RET X
        else a.mov32K(R0, k).exit();
        break;
      case BPF_MISC:
        if ((code & 0xf8) === BPF_TXA) a.mov32X(R0, R7);
        else a.mov32X(R7, R0);
        break;
      default:
        throw new Error(`classic BPF class ${cls} unknown`);
    }
  }
}
