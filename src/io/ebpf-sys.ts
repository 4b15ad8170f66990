// bpf(2) commands the fast path uses, with their attribute layouts
// (union bpf_attr in <linux/bpf.h>): hash maps, program load with the
// verifier's log, and tcx links (Linux 6.6+). Each wraps the addon's one
// generic call (native/src/bpf.cc).
import { bpfCall, bpfClose } from './native.js';

const BPF_MAP_CREATE = 0;
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;
const BPF_MAP_GET_NEXT_KEY = 4;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21;
const BPF_PROG_LOAD = 5;
const BPF_PROG_TEST_RUN = 10;
const BPF_MAP_LOOKUP_BATCH = 24;
const BPF_LINK_CREATE = 28;

export const BPF_MAP_TYPE_HASH = 1;
export const BPF_PROG_TYPE_SOCKET_FILTER = 1;
export const BPF_PROG_TYPE_SCHED_CLS = 3;
/** enum bpf_attach_type: tcx's ingress hook (Linux 6.6). */
export const BPF_TCX_INGRESS = 46;

/** Update flags. */
export const BPF_ANY = 0;

/** struct __sk_buff: its size and the GSO fields' offsets. */
const SK_BUFF_SIZE = 192, SK_BUFF_GSO_SEGS = 164, SK_BUFF_GSO_SIZE = 176;

/** Size of the attr we pass: larger than any layout used here; the kernel requires the tail to be zero. */
const ATTR_SIZE = 128;

function errCode(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

function name16(attr: Buffer, off: number, name: string): void {
  attr.write(name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15), off, 'latin1');
}

/** map_flags: entries allocated on update, not all at creation. */
export const BPF_F_NO_PREALLOC = 1;

/** A hash map (fixed key and value sizes); throws the syscall's error. */
export function mapCreateHash(keySize: number, valueSize: number, maxEntries: number, name: string, flags = 0): number {
  const a = Buffer.alloc(ATTR_SIZE);
  a.writeUInt32LE(BPF_MAP_TYPE_HASH, 0);
  a.writeUInt32LE(keySize, 4);
  a.writeUInt32LE(valueSize, 8);
  a.writeUInt32LE(maxEntries, 12);
  a.writeUInt32LE(flags, 16);
  name16(a, 28, name);
  return bpfCall(BPF_MAP_CREATE, a);
}

function elemAttr(fd: number, flags = 0): Buffer {
  const a = Buffer.alloc(ATTR_SIZE);
  a.writeUInt32LE(fd, 0);
  a.writeBigUInt64LE(BigInt(flags), 24);
  return a;
}

/** Writes key → value; false when the map is full (E2BIG), throws on anything else. */
export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags = BPF_ANY): boolean {
  try {
    bpfCall(BPF_MAP_UPDATE_ELEM, elemAttr(fd, flags), [[8, key], [16, value]]);
    return true;
  } catch (err) {
    if (errCode(err) === 'E2BIG') return false;
    throw err;
  }
}

/** Reads key's value into `value`; false when there is none. */
export function mapLookup(fd: number, key: Buffer, value: Buffer): boolean {
  try {
    bpfCall(BPF_MAP_LOOKUP_ELEM, elemAttr(fd), [[8, key], [16, value]]);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Deletes key; false when it was not there. */
export function mapDelete(fd: number, key: Buffer): boolean {
  try {
    bpfCall(BPF_MAP_DELETE_ELEM, elemAttr(fd), [[8, key]]);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** Reads key's value into `value` and deletes it, in one step (hash maps: Linux 5.14); false when there is none. */
export function mapLookupAndDelete(fd: number, key: Buffer, value: Buffer): boolean {
  try {
    bpfCall(BPF_MAP_LOOKUP_AND_DELETE_ELEM, elemAttr(fd), [[8, key], [16, value]]);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The key after `key` (or the first with null) into `next`; false at the end. */
export function mapNextKey(fd: number, key: Buffer | null, next: Buffer): boolean {
  const ptrs: [number, Buffer][] = [[16, next]];
  if (key !== null) ptrs.push([8, key]);
  try {
    bpfCall(BPF_MAP_GET_NEXT_KEY, elemAttr(fd), ptrs);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Every entry of a hash map, read `chunk` at a time with BPF_MAP_LOOKUP_BATCH
 * (Linux 5.6): one syscall per chunk instead of one per key. Calls
 * each(keys, values, n) for each chunk (the buffers are reused: copy what
 * you keep). The kernel walks every bucket and takes each bucket's lock, so
 * the cost follows the map's size, not its fill. Throws the syscall's error
 * (EINVAL on kernels without batch ops).
 */
export function mapForEachBatch(fd: number, keySize: number, valueSize: number,
  each: (keys: Buffer, values: Buffer, n: number) => void, chunk = 4096): void {
  const keys = Buffer.alloc(keySize * chunk);
  const values = Buffer.alloc(valueSize * chunk);
  const inBatch = Buffer.alloc(8);
  const outBatch = Buffer.alloc(8);
  for (let first = true; ;) {
    // struct { in_batch, out_batch, keys, values: u64; count, map_fd: u32; elem_flags, flags: u64 } batch
    const a = Buffer.alloc(ATTR_SIZE);
    a.writeUInt32LE(chunk, 32);
    a.writeUInt32LE(fd, 36);
    const ptrs: [number, Buffer][] = [[8, outBatch], [16, keys], [24, values]];
    if (!first) ptrs.push([0, inBatch]);
    let done = false;
    try {
      bpfCall(BPF_MAP_LOOKUP_BATCH, a, ptrs);
    } catch (err) {
      // ENOENT: the walk reached the last bucket; the count still says what this call read.
      if (errCode(err) !== 'ENOENT') throw err;
      done = true;
    }
    const n = a.readUInt32LE(32);
    if (n > 0) each(keys, values, n);
    if (done) return;
    outBatch.copy(inBatch);
    first = false;
  }
}

/**
 * Loads a program. A verifier refusal throws with the verifier's log in the
 * message (the last lines say which instruction and why).
 */
export function progLoad(type: number, insns: Buffer, name: string): number {
  const a = Buffer.alloc(ATTR_SIZE);
  const license = Buffer.from('GPL\0', 'latin1');
  a.writeUInt32LE(type, 0);
  a.writeUInt32LE(insns.length / 8, 4);
  name16(a, 48, name);
  try {
    return bpfCall(BPF_PROG_LOAD, a, [[8, insns], [16, license]]);
  } catch (err) {
    // Again with the log, only to explain the refusal.
    const log = Buffer.alloc(1 << 20);
    const b = Buffer.from(a);
    b.writeUInt32LE(1, 24);
    b.writeUInt32LE(log.length, 28);
    try {
      bpfCall(BPF_PROG_LOAD, b, [[8, insns], [16, license], [32, log]]);
    } catch { /* the log is what we want */ }
    const text = log.toString('latin1', 0, Math.max(0, log.indexOf(0))).trim().split('\n').slice(-12).join('\n');
    throw new Error(`bpf program ${name}: ${(err as Error).message}${text ? `\n${text}` : ''}`);
  }
}

/** Attaches a SCHED_CLS program at tcx ingress of ifindex; the returned link fd detaches it when closed. */
export function tcxAttachIngress(progFd: number, ifindex: number): number {
  const a = Buffer.alloc(ATTR_SIZE);
  a.writeUInt32LE(progFd, 0);
  a.writeUInt32LE(ifindex, 4);
  a.writeUInt32LE(BPF_TCX_INGRESS, 8);
  return bpfCall(BPF_LINK_CREATE, a);
}

/**
 * Runs a program once over `data` without a device (BPF_PROG_TEST_RUN: the
 * kernel builds an skb as a received frame on lo); the return value and the
 * frame as the program left it. For tests of the programs themselves.
 * `gso`: the skb as a GSO super-frame of gso_size-byte segments (the
 * __sk_buff fields the kernel lets a test run set).
 */
export function progTestRun(progFd: number, data: Uint8Array, outSize = 4096, gso?: { size: number; segs: number }):
  { retval: number; data: Buffer } {
  const a = Buffer.alloc(ATTR_SIZE);
  const input = Buffer.from(data);
  const out = Buffer.alloc(outSize);
  a.writeUInt32LE(progFd, 0);
  a.writeUInt32LE(input.length, 8);
  a.writeUInt32LE(out.length, 12);
  a.writeUInt32LE(1, 32);
  const ptrs: [number, Buffer][] = [[16, input], [24, out]];
  if (gso !== undefined) {
    const ctx = Buffer.alloc(SK_BUFF_SIZE);
    ctx.writeUInt32LE(gso.segs, SK_BUFF_GSO_SEGS);
    ctx.writeUInt32LE(gso.size, SK_BUFF_GSO_SIZE);
    a.writeUInt32LE(ctx.length, 40);
    ptrs.push([48, ctx]);
  }
  bpfCall(BPF_PROG_TEST_RUN, a, ptrs);
  return { retval: a.readInt32LE(4), data: out.subarray(0, a.readUInt32LE(12)) };
}

export { bpfClose };
