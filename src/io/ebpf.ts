// eBPF instructions (<linux/bpf.h>, Documentation/bpf/standardization/
// instruction-set.rst) and a small assembler with labels, for the programs
// the fast path loads (src/io/fastpath-prog.ts) and for the classic socket
// filters it translates (src/io/cbpf-to-ebpf.ts). Pure: it only builds bytes.
//
// An instruction is 8 bytes: opcode, dst (low nibble) and src (high nibble)
// registers, a signed 16-bit offset and a signed 32-bit immediate; a 64-bit
// immediate load (ld_imm64, used for map fds) takes two slots. Jump offsets
// count slots after the jump, so labels are resolved when the program is
// finished.

// Classes.
export const LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, JMP32 = 0x06, ALU64 = 0x07;
// Sizes and modes.
export const W = 0x00, H = 0x08, B = 0x10, DW = 0x18;
export const IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, ATOMIC = 0xc0;
// ALU operations; K (immediate) or X (register) source.
export const ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50, LSH = 0x60, RSH = 0x70;
export const NEG = 0x80, MOD = 0x90, XOR = 0xa0, MOV = 0xb0, ARSH = 0xc0, END = 0xd0;
export const K = 0x00, X = 0x08;
/** END with TO_BE: host order to big endian (a byte swap on x86). */
export const TO_BE = 0x08;
// Jumps.
export const JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40, JNE = 0x50, JSGT = 0x60, JSGE = 0x70;
export const CALL = 0x80, EXIT = 0x90, JLT = 0xa0, JLE = 0xb0, JSLT = 0xc0, JSLE = 0xd0;

/** ld_imm64 src register value: imm is a map fd. */
export const PSEUDO_MAP_FD = 1;

// Registers: R0 return value, R1-R5 arguments (clobbered by calls), R6-R9
// callee-saved, R10 the read-only frame pointer.
export const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R9 = 9, R10 = 10;

// Helper function ids (enum bpf_func_id).
export const FN_map_lookup_elem = 1;
export const FN_ktime_get_ns = 5;
export const FN_get_prandom_u32 = 7;
export const FN_skb_store_bytes = 9;
export const FN_l3_csum_replace = 10;
export const FN_l4_csum_replace = 11;
export const FN_redirect = 23;
export const FN_skb_load_bytes = 26;
export const FN_skb_pull_data = 39;
export const FN_skb_adjust_room = 50;

// __sk_buff field offsets.
export const SKB_LEN = 0, SKB_PROTOCOL = 16, SKB_IFINDEX = 40, SKB_DATA = 76, SKB_DATA_END = 80;

export type Reg = number;

interface Slot {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Label this jump goes to (resolved by finish()). */
  target?: string;
}

/**
 * Builds one program. Every method appends one instruction (ldImm64: two)
 * and returns the assembler, so a program reads top to bottom.
 */
export class Asm {
  private readonly slots: Slot[] = [];
  private readonly labels = new Map<string, number>();
  private seq = 0;

  /** Number of slots so far. */
  get length(): number {
    return this.slots.length;
  }

  /** A label name not used yet (for generated code). */
  fresh(prefix: string): string {
    return `${prefix}#${this.seq++}`;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`eBPF label ${name} defined twice`);
    this.labels.set(name, this.slots.length);
    return this;
  }

  raw(code: number, dst: Reg, src: Reg, off: number, imm: number, target?: string): this {
    this.slots.push({ code, dst, src, off, imm: imm | 0, target });
    return this;
  }

  /** dst = imm (64-bit, sign-extended imm). */
  movK(dst: Reg, imm: number): this { return this.raw(ALU64 | MOV | K, dst, 0, 0, imm); }
  /** dst = imm as u32 (upper half zeroed). */
  mov32K(dst: Reg, imm: number): this { return this.raw(ALU | MOV | K, dst, 0, 0, imm); }
  movX(dst: Reg, src: Reg): this { return this.raw(ALU64 | MOV | X, dst, src, 0, 0); }
  mov32X(dst: Reg, src: Reg): this { return this.raw(ALU | MOV | X, dst, src, 0, 0); }
  alu64K(op: number, dst: Reg, imm: number): this { return this.raw(ALU64 | op | K, dst, 0, 0, imm); }
  alu64X(op: number, dst: Reg, src: Reg): this { return this.raw(ALU64 | op | X, dst, src, 0, 0); }
  alu32K(op: number, dst: Reg, imm: number): this { return this.raw(ALU | op | K, dst, 0, 0, imm); }
  alu32X(op: number, dst: Reg, src: Reg): this { return this.raw(ALU | op | X, dst, src, 0, 0); }
  /** Byte swap to big endian of the low `bits` (16, 32, 64). */
  toBe(dst: Reg, bits: 16 | 32 | 64): this { return this.raw(ALU | END | TO_BE, dst, 0, 0, bits); }

  /** dst = *(size *)(src + off). */
  ldx(size: number, dst: Reg, src: Reg, off: number): this { return this.raw(LDX | MEM | size, dst, src, off, 0); }
  /** *(size *)(dst + off) = src. */
  stx(size: number, dst: Reg, off: number, src: Reg): this { return this.raw(STX | MEM | size, dst, src, off, 0); }
  /** *(size *)(dst + off) = imm. */
  st(size: number, dst: Reg, off: number, imm: number): this { return this.raw(ST | MEM | size, dst, 0, off, imm); }
  /** *(u64 *)(dst + off) += src, atomically. */
  atomicAdd64(dst: Reg, off: number, src: Reg): this { return this.raw(STX | ATOMIC | DW, dst, src, off, ADD); }

  /** Legacy packet loads (socket filters): R0 = ntoh(pkt[imm]) / pkt[src + imm]; a short packet ends the program with 0. */
  ldAbs(size: number, imm: number): this { return this.raw(LD | ABS | size, 0, 0, 0, imm); }
  ldInd(size: number, src: Reg, imm: number): this { return this.raw(LD | IND | size, 0, src, 0, imm); }

  /** dst = the map with this fd (the verifier turns it into the map's address). */
  ldMapFd(dst: Reg, fd: number): this {
    this.raw(LD | IMM | DW, dst, PSEUDO_MAP_FD, 0, fd);
    return this.raw(0, 0, 0, 0, 0);
  }

  /** 64-bit compare with an immediate (sign-extended to 64 bits). */
  jmpK(op: number, dst: Reg, imm: number, target: string): this { return this.raw(JMP | op | K, dst, 0, 0, imm, target); }
  jmpX(op: number, dst: Reg, src: Reg, target: string): this { return this.raw(JMP | op | X, dst, src, 0, 0, target); }
  /** 32-bit compare (the low halves only). */
  jmp32K(op: number, dst: Reg, imm: number, target: string): this { return this.raw(JMP32 | op | K, dst, 0, 0, imm, target); }
  jmp32X(op: number, dst: Reg, src: Reg, target: string): this { return this.raw(JMP32 | op | X, dst, src, 0, 0, target); }
  ja(target: string): this { return this.raw(JMP | JA, 0, 0, 0, 0, target); }
  call(fn: number): this { return this.raw(JMP | CALL, 0, 0, 0, fn); }
  exit(): this { return this.raw(JMP | EXIT, 0, 0, 0, 0); }

  /** The program's bytes, every label resolved. */
  finish(): Buffer {
    const out = Buffer.alloc(this.slots.length * 8);
    this.slots.forEach((s, i) => {
      let off = s.off;
      if (s.target !== undefined) {
        const at = this.labels.get(s.target);
        if (at === undefined) throw new Error(`eBPF label ${s.target} is not defined`);
        off = at - (i + 1);
        if (off < -32768 || off > 32767) throw new Error(`eBPF jump to ${s.target} is too far (${off})`);
      }
      const o = i * 8;
      out[o] = s.code;
      out[o + 1] = (s.dst & 0xf) | ((s.src & 0xf) << 4);
      out.writeInt16LE(off, o + 2);
      out.writeInt32LE(s.imm, o + 4);
    });
    return out;
  }
}
