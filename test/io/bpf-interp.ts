// A classic-BPF interpreter written from Documentation/networking/filter.rst,
// the judge of the filter compiler's programs in unit tests (the kernel judges
// the same programs in test/lab/native.test.ts).

/**
 * Where skb->data and the headers are in `pkt`: a socket filter sees the
 * frame from its Ethernet header (data = mac = 0, the default); a fanout
 * program sees skb->data at the network header (data = net = 14). Negative
 * offsets reach the headers as bpf_internal_load_pointer_neg_helper does:
 * SKF_NET_OFF (-0x100000) + n is the network header + n, SKF_LL_OFF
 * (-0x200000) + n the link-layer header + n.
 */
export interface BpfLayout { data: number; net: number; mac: number }

/** Runs a classic BPF program over `pkt` like the kernel's socket filter: returns the snap length (0 = drop). */
export function runBpf(prog: Uint32Array, pkt: Uint8Array, ancillary?: (k: number) => number,
  layout: BpfLayout = { data: 0, net: 14, mac: 0 }): number {
  const n = prog.length / 4;
  const M = new Uint32Array(16);
  let A = 0, X = 0, pc = 0;
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  const load = (rel: number, size: number): number | undefined => {
    const r = rel | 0;
    let off: number;
    if (r >= 0) off = layout.data + r;
    else if (r >= -0x100000) off = layout.net + r + 0x100000;
    else if (r >= -0x200000) off = layout.mac + r + 0x200000;
    else return undefined;
    if (off < 0 || off + size > pkt.length) return undefined; // out of bounds: the kernel returns 0
    return size === 4 ? dv.getUint32(off) : size === 2 ? dv.getUint16(off) : dv.getUint8(off);
  };
  for (let steps = 0; steps < 100_000; steps++) {
    if (pc >= n) throw new Error('ran off the end of the program');
    const code = prog[pc * 4]!, jt = prog[pc * 4 + 1]!, jf = prog[pc * 4 + 2]!, k = prog[pc * 4 + 3]!;
    pc++;
    const cls = code & 7;
    const size = ({ 0x00: 4, 0x08: 2, 0x10: 1 } as Record<number, number>)[code & 0x18]!;
    const mode = code & 0xe0;
    const src = code & 0x08 ? X : k;
    switch (cls) {
      case 0x00: { // LD
        let v: number | undefined;
        if (mode === 0x00) v = k;
        else if (mode === 0x20 && k >= 0xfffff000) v = ancillary?.(k); // SKF_AD_OFF + n: the kernel's ancillary data
        else if (mode === 0x20) v = load(k, size);
        else if (mode === 0x40) v = load(X + k, size);
        else if (mode === 0x60) v = M[k]!;
        else if (mode === 0x80) v = pkt.length - layout.data;
        else throw new Error(`bad LD mode ${code}`);
        if (v === undefined) return 0;
        A = v >>> 0;
        break;
      }
      case 0x01: { // LDX
        if (mode === 0x00) X = k;
        else if (mode === 0x60) X = M[k]!;
        else if (mode === 0x80) X = pkt.length - layout.data;
        else if (mode === 0xa0) { const b = load(k, 1); if (b === undefined) return 0; X = (b & 0xf) * 4; }
        else throw new Error(`bad LDX mode ${code}`);
        break;
      }
      case 0x02: M[k] = A; break;
      case 0x03: M[k] = X; break;
      case 0x04: { // ALU
        const op = code & 0xf0;
        if (op === 0x00) A = (A + src) >>> 0;
        else if (op === 0x10) A = (A - src) >>> 0;
        else if (op === 0x20) A = Math.imul(A, src) >>> 0;
        else if (op === 0x30) { if (src === 0) return 0; A = Math.floor(A / src) >>> 0; }
        else if (op === 0x90) { if (src === 0) return 0; A = (A % src) >>> 0; }
        else if (op === 0xa0) A = (A ^ src) >>> 0;
        else if (op === 0x80) A = (-A) >>> 0;
        else if (op === 0x40) A = (A | src) >>> 0;
        else if (op === 0x50) A = (A & src) >>> 0;
        else if (op === 0x60) A = (A << src) >>> 0;
        else if (op === 0x70) A = A >>> src;
        else throw new Error(`ALU op ${op} not needed by the compiler`);
        break;
      }
      case 0x05: { // JMP
        const op = code & 0xf0;
        if (op === 0x00) { pc += k; break; }
        const t = op === 0x10 ? A === src : op === 0x20 ? A > src : op === 0x30 ? A >= src : (A & src) !== 0;
        pc += t ? jt : jf;
        break;
      }
      case 0x06: return code & 0x10 ? A : k;
      case 0x07: if (code & 0x80) A = X; else X = A; break;
      default: throw new Error(`bad class ${cls}`);
    }
  }
  throw new Error('no return after 100000 steps (loop?)');
}
