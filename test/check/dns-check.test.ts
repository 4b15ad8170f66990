import * as dgram from 'node:dgram';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQuery, dnsCheckProbe, encodeName, judgeReply } from '../../src/check/dns-check.js';
import { DNS_TYPES, type DnsCheckOptions } from '../../src/check/types.js';
import { never } from './helpers.js';

interface Query {
  id: number;
  flags: number;
  qdcount: number;
  name: string;
  type: number;
  klass: number;
}

function parseQuery(msg: Buffer): Query {
  const labels: string[] = [];
  let off = 12;
  while (msg[off] !== 0) {
    const len = msg[off]!;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
    off += 1 + len;
  }
  off++;
  return {
    id: msg.readUInt16BE(0),
    flags: msg.readUInt16BE(2),
    qdcount: msg.readUInt16BE(4),
    name: labels.length ? labels.join('.') : '.',
    type: msg.readUInt16BE(off),
    klass: msg.readUInt16BE(off + 2),
  };
}

function reply(q: Buffer, flags: number, id = q.readUInt16BE(0)): Buffer {
  const r = Buffer.from(q);
  r.writeUInt16BE(id, 0);
  r.writeUInt16BE(flags, 2);
  return r;
}

// A tiny DNS responder whose behaviour is picked by the query name.
let server: dgram.Socket;
let port: number;
const queries: Query[] = [];

beforeAll(async () => {
  server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    const q = parseQuery(msg);
    queries.push(q);
    const send = (b: Buffer): void => server.send(b, rinfo.port, rinfo.address);
    switch (q.name) {
      case 'silent.test':
        return;
      case 'refused.test':
        return send(reply(msg, 0x8000 | 0x0100 | 0x0080 | 5));
      case 'nxdomain.test':
        return send(reply(msg, 0x8000 | 0x0100 | 3));
      case 'noise.test':
        // Ignored by the checker: wrong id, a query (QR=0), too short; then the real answer.
        send(reply(msg, 0x8100 | 5, (q.id + 1) & 0xffff));
        send(reply(msg, 0x0100));
        send(Buffer.alloc(5));
        return void setTimeout(() => send(reply(msg, 0x8180)), 20);
      case 'echo.test':
        return send(reply(msg, 0x0100));
      default:
        // NOERROR with no answer records (NODATA) is still up for keepalived.
        return send(reply(msg, 0x8180));
    }
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
  port = server.address().port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const dns = (extra: Partial<DnsCheckOptions> = {}): DnsCheckOptions => ({
  type: 'DNS_CHECK', connectIp: '127.0.0.1', connectPort: port, connectTimeout: 200, ...extra,
});

describe('DNS query', () => {
  it('encodes the root and dotted names', () => {
    expect([...encodeName('.')]).toEqual([0]);
    expect([...encodeName('')]).toEqual([0]);
    expect([...encodeName('a.bc')]).toEqual([1, 97, 2, 98, 99, 0]);
    expect([...encodeName('a.bc.')]).toEqual([1, 97, 2, 98, 99, 0]);
    expect(() => encodeName('x'.repeat(64))).toThrow(/63/);
  });

  it('round-trips through a decoder for any id, name and type', () => {
    const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.array(label, { maxLength: 5 }), fc.constantFrom(...(Object.keys(DNS_TYPES) as (keyof typeof DNS_TYPES)[])), (id, labels, type) => {
        const name = labels.length ? labels.join('.') : '.';
        const q = parseQuery(buildQuery(id, name, type));
        expect(q).toEqual({ id, flags: 0x0100, qdcount: 1, name, type: DNS_TYPES[type], klass: 1 });
      }),
    );
  });

  it('judges replies as check_dns.c does', () => {
    const q = buildQuery(0x1234, '.', 'SOA');
    expect(judgeReply(0x1234, reply(q, 0x8180))).toEqual({ kind: 'up' });
    expect(judgeReply(0x1234, reply(q, 0x8185))).toEqual({ kind: 'down', rcode: 5 });
    expect(judgeReply(0x1234, reply(q, 0x8180, 0x4321)).kind).toBe('ignore');
    expect(judgeReply(0x1234, reply(q, 0x0100)).kind).toBe('ignore');
    expect(judgeReply(0x1234, q.subarray(0, 11)).kind).toBe('ignore');
  });
});

describe('DNS_CHECK', () => {
  it('sends SOA for "." by default with RD set, and NOERROR is up', async () => {
    queries.length = 0;
    expect(await dnsCheckProbe(dns())(never)).toEqual({ ok: true });
    expect(queries[0]).toMatchObject({ name: '.', type: 6, klass: 1, flags: 0x0100 });
  });

  it('sends the configured type and name', async () => {
    queries.length = 0;
    expect((await dnsCheckProbe(dns({ dnsType: 'AAAA', name: 'www.example.test' }))(never)).ok).toBe(true);
    expect(queries[0]).toMatchObject({ name: 'www.example.test', type: 28 });
  });

  it('is down on REFUSED and NXDOMAIN', async () => {
    const r = await dnsCheckProbe(dns({ name: 'refused.test' }))(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/REFUSED/);
    expect((await dnsCheckProbe(dns({ name: 'nxdomain.test' }))(never)).ok).toBe(false);
  });

  it('is down at connect_timeout when nobody answers', async () => {
    const t0 = performance.now();
    const r = await dnsCheckProbe(dns({ name: 'silent.test', connectTimeout: 150 }))(never);
    const dt = performance.now() - t0;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/no reply.*timeout after 150 ms/);
    expect(dt).toBeGreaterThanOrEqual(140);
    expect(dt).toBeLessThan(350);
  });

  it('ignores foreign ids, queries and runts, and waits for the real reply', async () => {
    expect(await dnsCheckProbe(dns({ name: 'noise.test' }))(never)).toEqual({ ok: true });
    expect((await dnsCheckProbe(dns({ name: 'echo.test', connectTimeout: 100 }))(never)).ok).toBe(false);
  });

  it('binds to bindto/bind_port', async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const free = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const seen: number[] = [];
    const onMsg = (_m: Buffer, rinfo: dgram.RemoteInfo): void => void seen.push(rinfo.port);
    server.on('message', onMsg);
    const r = await dnsCheckProbe(dns({ bindto: '127.0.0.1', bindPort: free }))(never);
    server.off('message', onMsg);
    expect(r.ok).toBe(true);
    expect(seen).toEqual([free]);
  });

  it('takes the type in any case, as strcasecmp does', async () => {
    queries.length = 0;
    expect((await dnsCheckProbe(dns({ dnsType: 'mx' as 'MX' }))(never)).ok).toBe(true);
    expect(queries[0]?.type).toBe(15);
  });

  it('rejects an unknown type when the checker is made', () => {
    expect(() => dnsCheckProbe(dns({ dnsType: 'BOGUS' as 'A' }))).toThrow(/BOGUS/);
  });
});
