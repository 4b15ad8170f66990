// What lvs-keepalived asks lvsd for when virtual_server blocks are IPv6: the
// request shapes of the control protocol (addresses as strings, IPv6 in
// RFC 5952 form, -M as a prefix length), and IPv6 group ranges expanded as
// keepalived's ipvswrapper.c expands them.
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { groupAddresses, toRuleset } from '../../src/keepalived/ipvswrapper.js';
import { planVirtualServers } from '../../src/keepalived/check-data.js';
import { serviceId } from '../../src/keepalived/ipvs-manager.js';

const model = (text: string) => {
  const r = parseConfigText(text, 'k.conf');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r.model;
};

describe('IPv6 services for lvsd', () => {
  it('virtual_server 2001:db8::100 80: an addr service, netmask 128, IPv6 dests, a sorry server held back', () => {
    const m = model(`virtual_server 2001:DB8::100 80 {
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    sorry_server 2001:db8::99 80
    real_server 2001:db8::12 80 {
        weight 3
    }
    real_server 2001:db8::13 80 {
    }
}
`);
    expect(toRuleset(m)).toEqual({
      services: [{
        key: { kind: 'addr', protocol: 'tcp', addr: '2001:db8::100', port: 80 },
        scheduler: 'wrr', persistence: 0, netmask: '128', ops: false, schedFlags: [],
        dests: [
          { addr: '2001:db8::12', port: 80, fwd: 'route', weight: 3, uThreshold: 0, lThreshold: 0 },
          { addr: '2001:db8::13', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
        ],
      }],
    });
    // All real servers down: the sorry server stands in.
    expect(toRuleset(m, () => null).services[0]!.dests).toEqual([
      { addr: '2001:db8::99', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
    ]);
  });

  it('NAT with a port change, UDP, persistence with an IPv6 granularity (a prefix length)', () => {
    const m = model(`virtual_server 2001:db8::53 53 {
    lvs_sched sh
    lvs_method NAT
    protocol UDP
    persistence_timeout 120
    persistence_granularity 64
    real_server 2001:db8:1::10 5353 {
    }
}
`);
    const [svc] = toRuleset(m).services;
    expect(svc).toMatchObject({ key: { kind: 'addr', protocol: 'udp', addr: '2001:db8::53', port: 53 }, persistence: 120, netmask: '64' });
    expect(svc!.dests.map((d) => [d.addr, d.port, d.fwd])).toEqual([['2001:db8:1::10', 5353, 'masq']]);
  });

  it('a group with ae00::2-9: one service per address, ae00::2 … ae00::9, each with the real servers', () => {
    const m = model(`virtual_server_group V6 {
    ae00::2-9 443
}
virtual_server group V6 {
    lvs_sched rr
    lvs_method DR
    protocol TCP
    real_server ae00::100 443 {
    }
}
`);
    const svcs = toRuleset(m).services;
    expect(svcs.map((s) => s.key)).toEqual(['2', '3', '4', '5', '6', '7', '8', '9'].map((x) => ({ kind: 'addr', protocol: 'tcp', addr: `ae00::${x}`, port: 443 })));
    for (const s of svcs) expect(s).toMatchObject({ netmask: '128', dests: [{ addr: 'ae00::100', port: 443, fwd: 'route' }] });
  });

  it('a group of both families: each service gets the real servers of its own family', () => {
    const m = model(`virtual_server_group MIX {
    192.168.67.100 80
    2001:db8:67::100-101 80
}
virtual_server group MIX {
    lvs_sched rr
    lvs_method DR
    protocol TCP
    real_server 2001:db8:67::11 80 {
    }
}
`);
    expect(toRuleset(m).services.map((s) => [s.key.kind === 'addr' && s.key.addr, s.netmask, s.dests.map((d) => d.addr)])).toEqual([
      ['192.168.67.100', '255.255.255.255', []],
      ['2001:db8:67::100', '128', ['2001:db8:67::11']],
      ['2001:db8:67::101', '128', ['2001:db8:67::11']],
    ]);
  });

  it('groupAddresses steps the last 16 bits as keepalived does, IPv4 through the whole address', () => {
    expect(groupAddresses('ae00::2', 'ae00::4')).toEqual(['ae00::2', 'ae00::3', 'ae00::4']);
    expect(groupAddresses('2001:db8::fffe', '2001:db8::1')).toEqual(['2001:db8::fffe', '2001:db8::ffff', '2001:db8::', '2001:db8::1']);
    expect(groupAddresses('2001:db8:2::', '2001:db8:2::ffff').length).toBe(65536);
    expect(groupAddresses('2001:db8::5')).toEqual(['2001:db8::5']);
    expect(groupAddresses('10.0.0.254', '10.0.1.1')).toEqual(['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1']);
  });

  it('checkers: IPv6 connect_ip/bindto as given; bind_if scopes a link-local real server; names as keepalived prints them', () => {
    const m = model(`virtual_server 2001:db8::100 80 {
    lvs_sched rr
    lvs_method DR
    protocol TCP
    real_server 2001:db8::12 80 {
        HTTP_GET {
            url {
                path /
            }
            bindto 2001:db8::1
        }
    }
    real_server fe80::13 80 {
        TCP_CHECK {
            bind_if eth1
        }
    }
}
`);
    const logs: string[] = [];
    const [plan] = planVirtualServers(m, (msg) => logs.push(msg));
    expect(plan!.checks.name).toBe('[2001:db8::100]:tcp:80');
    expect(plan!.checks.realServers.map((r) => r.key)).toEqual(['[2001:db8::12]:tcp:80', '[fe80::13]:tcp:80']);
    expect(plan!.checks.realServers[0]!.checkers[0]).toMatchObject({ type: 'HTTP_GET', connectIp: '2001:db8::12', connectPort: 80, bindto: '2001:db8::1' });
    expect(plan!.checks.realServers[1]!.checkers[0]).toMatchObject({ type: 'TCP_CHECK', connectIp: 'fe80::13', bindIf: 'eth1' });
    // bind_if is applied there (as the scope): nothing to warn about.
    expect(logs).toEqual([]);
  });

  it('what lvsd lists in another IPv6 spelling is the same service and dest', () => {
    expect(serviceId({ kind: 'addr', protocol: 'tcp', addr: '2001:0db8:0:0::100', port: 80 }))
      .toBe(serviceId({ kind: 'addr', protocol: 'tcp', addr: '2001:db8::100', port: 80 }));
  });
});
