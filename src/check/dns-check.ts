// DNS_CHECK (keepalived check_dns.c): send one recursive query (type, default
// SOA, for name, default ".") over UDP to connect_ip:connect_port and pass on
// the first reply that carries our id, has QR set and RCODE NOERROR — the
// answer count does not matter, so an authoritative NODATA is still "up".
// Replies that are too short, carry another id or are not responses are
// ignored while we keep waiting, as keepalived does; anything else, or no
// reply by connect_timeout, fails.
//
// node:dns's Resolver is not used: it turns NODATA into an error (ENODATA)
// and retries on its own, which would blur keepalived's rule and timing.

import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { deadline, failReason } from './deadline.js';
import { DEFAULTS, DNS_TYPES, socketHost, type DnsCheckOptions, type DnsType, type Probe, type ProbeResult } from './types.js';

const HEADER_LEN = 12;
const CLASS_IN = 1;
const FLAG_QR = 0x8000;
const FLAG_RD = 0x0100;

export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED',
};

/** Encodes a dotted name as DNS labels; "." and "" are the root. */
export function encodeName(name: string): Uint8Array {
  const labels = name.split('.').filter((l) => l.length > 0);
  const parts: number[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length > 63) throw new Error(`DNS_CHECK name ${name}: label "${label}" is longer than 63 bytes`);
    parts.push(bytes.length, ...bytes);
  }
  parts.push(0);
  if (parts.length > 255) throw new Error(`DNS_CHECK name ${name}: longer than 255 bytes`);
  return Uint8Array.from(parts);
}

/** A standard query with RD set, one question, as check_dns.c's dns_make_query. */
export function buildQuery(id: number, name: string, type: DnsType): Buffer {
  const qname = encodeName(name);
  const buf = Buffer.alloc(HEADER_LEN + qname.length + 4);
  buf.writeUInt16BE(id & 0xffff, 0);
  buf.writeUInt16BE(FLAG_RD, 2);
  buf.writeUInt16BE(1, 4); // qdcount
  buf.set(qname, HEADER_LEN);
  buf.writeUInt16BE(DNS_TYPES[type], HEADER_LEN + qname.length);
  buf.writeUInt16BE(CLASS_IN, HEADER_LEN + qname.length + 2);
  return buf;
}

export type ReplyVerdict = { kind: 'ignore'; why: string } | { kind: 'up' } | { kind: 'down'; rcode: number };

/** check_dns.c's dns_recv_thread decision for one datagram. */
export function judgeReply(id: number, msg: Uint8Array): ReplyVerdict {
  if (msg.length < HEADER_LEN) return { kind: 'ignore', why: `too short (${msg.length} bytes)` };
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (view.getUint16(0) !== (id & 0xffff)) return { kind: 'ignore', why: 'id does not match' };
  const flags = view.getUint16(2);
  if ((flags & FLAG_QR) === 0) return { kind: 'ignore', why: 'not a response' };
  const rcode = flags & 0x000f;
  return rcode === 0 ? { kind: 'up' } : { kind: 'down', rcode };
}

export function dnsCheckProbe(opts: DnsCheckOptions): Probe {
  const timeout = opts.connectTimeout ?? DEFAULTS.connectTimeout;
  const port = opts.connectPort ?? DEFAULTS.dnsPort;
  // check_dns.c looks the type up with strcasecmp.
  const type = (opts.dnsType ?? DEFAULTS.dnsType).toUpperCase() as DnsType;
  const name = opts.name ?? DEFAULTS.dnsName;
  if (!(type in DNS_TYPES)) throw new Error(`DNS_CHECK type ${type}: unknown; use one of ${Object.keys(DNS_TYPES).join(' ')}`);
  encodeName(name); // reject a bad name when the checker is made, not at every round
  const target = `${isIPv6(opts.connectIp) ? `[${opts.connectIp}]` : opts.connectIp}:${port}`;

  return (parent) => {
    const d = deadline(parent, timeout);
    const id = randomInt(0, 0x10000);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      const sock = dgram.createSocket(isIPv6(opts.connectIp) ? 'udp6' : 'udp4');
      const finish = (r: ProbeResult): void => {
        if (settled) return;
        settled = true;
        d.clear();
        d.signal.removeEventListener('abort', onAbort);
        try {
          sock.close();
        } catch {
          // already closed after an error
        }
        resolve(r);
      };
      const fail = (what: string, err?: unknown): void =>
        finish({ ok: false, reason: `DNS ${type} ${name} @${target}: ${what}${err === undefined ? '' : `: ${failReason(d, timeout, err)}`}` });
      const onAbort = (): void => fail(d.reason() === 'timeout' ? `no reply: timeout after ${timeout} ms` : 'stopped');
      if (d.signal.aborted) return onAbort();
      d.signal.addEventListener('abort', onAbort, { once: true });

      sock.on('error', (err) => fail('socket error', err));
      sock.on('message', (msg) => {
        const v = judgeReply(id, msg);
        if (v.kind === 'up') finish({ ok: true });
        else if (v.kind === 'down') fail(`rcode ${v.rcode} (${RCODE_NAMES[v.rcode] ?? 'unknown'})`);
      });
      const send = (): void => {
        sock.connect(port, socketHost(opts), () => {
          if (settled) return;
          sock.send(buildQuery(id, name, type), (err) => {
            if (err) fail('send failed', err);
          });
        });
      };
      if (opts.bindto !== undefined || opts.bindPort !== undefined) {
        sock.bind({ ...(opts.bindto !== undefined ? { address: opts.bindto } : {}), port: opts.bindPort ?? 0 }, send);
      } else {
        send();
      }
    });
  };
}
