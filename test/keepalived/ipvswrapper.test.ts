import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { loadConfig, parseConfigText } from '../../src/config/index.js';
import { toRuleset } from '../../src/keepalived/ipvswrapper.js';

const CONFIGS = path.resolve(import.meta.dirname, '../../configs');
const load = (f: string) => {
  const r = loadConfig(path.join(CONFIGS, f));
  expect(r.diagnostics).toEqual([]);
  return r.model;
};

describe('toRuleset', () => {
  it('seed HA config: one DR service, rr, not persistent, both real servers at weight 1', () => {
    expect(toRuleset(load('seed-dr-ha-master.conf'))).toEqual({
      services: [{
        key: { kind: 'addr', protocol: 'tcp', addr: '192.168.150.100', port: 80 },
        scheduler: 'rr', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [],
        dests: [
          { addr: '192.168.150.12', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
          { addr: '192.168.150.13', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
        ],
      }],
    });
  });

  it('NAT sample: masq to the real servers behind the director', () => {
    const [svc] = toRuleset(load('nat.conf')).services;
    expect(svc).toMatchObject({ key: { kind: 'addr', protocol: 'tcp', addr: '192.168.160.100', port: 80 }, scheduler: 'rr', persistence: 0 });
    expect(svc!.dests.map((d) => [d.addr, d.port, d.fwd])).toEqual([['192.168.150.12', 80, 'masq'], ['192.168.150.13', 80, 'masq']]);
  });

  it('persistence with a granularity, and NAT changing the port', () => {
    const m = parseConfigText(`virtual_server 192.168.160.100 80 {
    lvs_sched wlc
    lvs_method NAT
    protocol TCP
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    real_server 192.168.150.12 8080 {
    }
}
`).model;
    const [svc] = toRuleset(m).services;
    expect(svc).toMatchObject({ scheduler: 'wlc', persistence: 300, netmask: '255.255.255.0' });
    expect(svc!.dests.map((d) => [d.addr, d.port, d.fwd])).toEqual([['192.168.150.12', 8080, 'masq']]);
  });

  it('TUN sample: tunnel (ipip), Maglev with mh-port', () => {
    const [svc] = toRuleset(load('tun.conf')).services;
    expect(svc).toMatchObject({ scheduler: 'mh', schedFlags: ['mh-port'] });
    expect(svc!.dests.every((d) => d.fwd === 'tunnel' && d.tunType === 'ipip')).toBe(true);
  });

  const groupConf = `virtual_server_group WEB {
    192.168.150.100-102 80
    192.168.150.110 443
    fwmark 9
    10.1.0.254-10.1.1.1 8080
    10.2.0.0/31 53
}
virtual_server group WEB {
    lvs_sched sh
    sh-fallback
    sh-port
    lvs_method DR
    protocol UDP
    persistence_timeout 60
    real_server 10.10.0.11 {
        weight 70000
        uthreshold 100
        lthreshold 10
        lvs_method TUN
    }
    real_server 10.10.0.12 8080 {
        weight 2
    }
}
`;

  it('virtual_server_group: ranges a.b.c.d-e and fwmarks expand to one service each, sharing the dests', () => {
    const r = toRuleset(parseConfigText(groupConf).model);
    expect(r.services.map((s) => s.key)).toEqual([
      { kind: 'addr', protocol: 'udp', addr: '192.168.150.100', port: 80 },
      { kind: 'addr', protocol: 'udp', addr: '192.168.150.101', port: 80 },
      { kind: 'addr', protocol: 'udp', addr: '192.168.150.102', port: 80 },
      { kind: 'addr', protocol: 'udp', addr: '192.168.150.110', port: 443 },
      { kind: 'fwmark', fwmark: 9 },
      ...['10.1.0.254', '10.1.0.255', '10.1.1.0', '10.1.1.1'].map((addr) => ({ kind: 'addr', protocol: 'udp', addr, port: 8080 })),
      { kind: 'addr', protocol: 'udp', addr: '10.2.0.0', port: 53 },
      { kind: 'addr', protocol: 'udp', addr: '10.2.0.1', port: 53 },
    ]);
    // ipvsadm's flag order, whatever the config's; weights above IPVS's 65535 are clamped;
    // a real server without a port takes the service's (0 for a group: any port).
    expect(r.services[0]).toMatchObject({ schedFlags: ['sh-fallback', 'sh-port'], persistence: 60 });
    expect(r.services[0]!.dests).toEqual([
      { addr: '10.10.0.11', port: 0, fwd: 'tunnel', weight: 65535, uThreshold: 100, lThreshold: 10, tunType: 'ipip' },
      { addr: '10.10.0.12', port: 8080, fwd: 'route', weight: 2, uThreshold: 0, lThreshold: 0 },
    ]);
    expect(r.services[0]!.dests).not.toBe(r.services[1]!.dests);
  });

  it('alive(): null leaves a real server out, a number sets its weight (0 = inhibited)', () => {
    const m = load('dr.conf');
    const r = toRuleset(m, (rs) => (rs.addr === '192.168.150.12' ? null : 0));
    expect(r.services[0]!.dests.map((d) => [d.addr, d.weight])).toEqual([['192.168.150.13', 0]]);
  });

  it('sorry_server replaces the real servers when live weight falls below quorum', () => {
    const m = parseConfigText(`virtual_server 10.0.0.1 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    quorum 3
    sorry_server 10.0.9.9 8080
    real_server 10.0.1.1 80 {
        weight 2
    }
    real_server 10.0.1.2 80 {
        weight 2
    }
}
`).model;
    const dests = (alive: (a: string) => number | null) => toRuleset(m, (rs) => alive(rs.addr))!.services[0]!.dests.map((d) => `${d.addr}:${d.port}/${d.weight}`);
    expect(dests(() => 2)).toEqual(['10.0.1.1:80/2', '10.0.1.2:80/2']);
    expect(dests((a) => (a === '10.0.1.1' ? 2 : null))).toEqual(['10.0.9.9:8080/1']);
    expect(dests(() => null)).toEqual(['10.0.9.9:8080/1']);
  });
});
