import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTrio, VirtualServerState, type Notification, type RealServerConfig, type VirtualServerConfig } from '../../src/check/real-server-state.js';

const VS = formatTrio('10.0.0.100', 'tcp', 80);
const rs = (n: number, extra: Partial<RealServerConfig> = {}): RealServerConfig => ({
  key: formatTrio(`10.0.0.${n}`, 'tcp', 80),
  checkers: [{ id: 'c' }],
  notifyUp: `/bin/up ${n}`,
  notifyDown: `/bin/down ${n}`,
  ...extra,
});
const R1 = formatTrio('10.0.0.1', 'tcp', 80);
const R2 = formatTrio('10.0.0.2', 'tcp', 80);
const R3 = formatTrio('10.0.0.3', 'tcp', 80);
const SORRY = formatTrio('10.0.0.99', 'tcp', 80);

const kinds = (ns: Notification[]): string[] => ns.map((n) => (n.kind.startsWith('rs') ? `${n.kind} ${(n as { rs: string }).rs}` : n.kind));
const table = (v: VirtualServerState): Record<string, number> => Object.fromEntries([...v.dests()].sort());

describe('VirtualServerState: real servers', () => {
  it('starts with every non-alpha real server in IPVS and gains quorum', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1, { weight: 3 }), rs(2)], quorumUp: '/bin/qup' });
    const n = v.init();
    expect(table(v)).toEqual({ [R1]: 3, [R2]: 1 });
    expect(n).toEqual([{ kind: 'quorum_up', script: '/bin/qup', fifo: `VS ${VS} UP`, stopping: false, init: true, weightSum: 4, threshold: 1 }]);
    expect(v.hasQuorum).toBe(true);
  });

  it('removes a failed real server and adds it back, running notify_down/notify_up', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1), rs(2)] });
    v.init();
    expect(v.checkerState(R1, 'c', false)).toEqual([
      { kind: 'rs_down', rs: R1, script: '/bin/down 1', fifo: `RS ${R1} ${VS} DOWN`, stopping: false },
    ]);
    expect(table(v)).toEqual({ [R2]: 1 });
    expect(kinds(v.checkerState(R1, 'c', true))).toEqual([`rs_up ${R1}`]);
    expect(table(v)).toEqual({ [R1]: 1, [R2]: 1 });
  });

  it('repeats of the same verdict change nothing', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1), rs(2)] });
    v.init();
    expect(v.checkerState(R1, 'c', true)).toEqual([]);
    v.checkerState(R1, 'c', false);
    expect(v.checkerState(R1, 'c', false)).toEqual([]);
  });

  it('inhibit_on_failure sets weight 0 instead of removing', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1, { inhibitOnFailure: true, weight: 5 }), rs(2)] });
    v.init();
    v.checkerState(R1, 'c', false);
    expect(table(v)).toEqual({ [R1]: 0, [R2]: 1 });
    v.checkerState(R1, 'c', true);
    expect(table(v)).toEqual({ [R1]: 5, [R2]: 1 });
  });

  it('a real server is alive only while all its checkers are up', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1, { checkers: [{ id: 'http' }, { id: 'misc' }] }), rs(2)] });
    v.init();
    expect(kinds(v.checkerState(R1, 'http', false))).toEqual([`rs_down ${R1}`]);
    expect(v.checkerState(R1, 'misc', false)).toEqual([]);
    expect(v.checkerState(R1, 'http', true)).toEqual([]);
    expect(v.isAlive(R1)).toBe(false);
    expect(table(v)).toEqual({ [R2]: 1 });
    expect(kinds(v.checkerState(R1, 'misc', true))).toEqual([`rs_up ${R1}`]);
    expect(table(v)).toEqual({ [R1]: 1, [R2]: 1 });
  });

  it('alpha keeps a real server out until its checker succeeds; a first failure still notifies down', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1, { checkers: [{ id: 'c', alpha: true }] }), rs(2)] });
    v.init();
    expect(table(v)).toEqual({ [R2]: 1 });
    expect(kinds(v.checkerState(R1, 'c', false))).toEqual([`rs_down ${R1}`]);
    expect(v.checkerState(R1, 'c', false)).toEqual([]);
    expect(kinds(v.checkerState(R1, 'c', true))).toEqual([`rs_up ${R1}`]);
    expect(table(v)).toEqual({ [R1]: 1, [R2]: 1 });
  });

  it('alpha with inhibit puts the real server in with weight 0 at start', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1, { checkers: [{ id: 'c', alpha: true }], inhibitOnFailure: true, weight: 4 })] });
    v.init();
    expect(table(v)).toEqual({ [R1]: 0 });
    v.checkerState(R1, 'c', true);
    expect(table(v)).toEqual({ [R1]: 4 });
  });

  it('misc_dynamic weights edit IPVS and count towards quorum', () => {
    const v = new VirtualServerState({ name: VS, quorum: 5, realServers: [rs(1, { weight: 2 }), rs(2, { weight: 2 })], quorumDown: '/bin/qdown' });
    expect(kinds(v.init())).toEqual([]);
    expect(v.hasQuorum).toBe(false);
    expect(kinds(v.checkerWeight(R1, 'c', 10))).toEqual(['quorum_up']);
    expect(table(v)).toEqual({ [R1]: 10, [R2]: 2 });
    expect(kinds(v.checkerWeight(R1, 'c', undefined))).toEqual(['quorum_down']);
    expect(table(v)).toEqual({ [R1]: 2, [R2]: 2 });
    // A failing checker drops its dynamic weight without an IPVS edit of its own.
    v.checkerWeight(R2, 'c', 7);
    v.checkerState(R2, 'c', false);
    v.checkerState(R2, 'c', true);
    expect(table(v)).toEqual({ [R1]: 2, [R2]: 2 });
  });

  it('refuses unknown real servers and checkers, and use before init()', () => {
    const v = new VirtualServerState({ name: VS, realServers: [rs(1)] });
    expect(() => v.checkerState(R1, 'c', false)).toThrow(/init/);
    v.init();
    expect(() => v.checkerState(R3, 'c', false)).toThrow(/no real_server/);
    expect(() => v.checkerState(R1, 'x', false)).toThrow(/no checker x/);
    expect(() => new VirtualServerState({ name: VS, realServers: [rs(1), rs(1)] })).toThrow(/twice/);
    expect(() => new VirtualServerState({ name: VS, quorum: 0, realServers: [] })).toThrow(/quorum/);
  });
});

describe('VirtualServerState: quorum, hysteresis, sorry server', () => {
  const three = (extra: Partial<VirtualServerConfig> = {}): VirtualServerConfig => ({
    name: VS, realServers: [rs(1), rs(2), rs(3)], quorum: 2, hysteresis: 1, quorumUp: '/bin/qup', quorumDown: '/bin/qdown', ...extra,
  });

  it('gains quorum at quorum+hysteresis and loses it below quorum-hysteresis', () => {
    const v = new VirtualServerState(three());
    expect(kinds(v.init())).toEqual(['quorum_up']);
    expect(kinds(v.checkerState(R1, 'c', false))).toEqual([`rs_down ${R1}`]); // 2 >= 1
    expect(kinds(v.checkerState(R2, 'c', false))).toEqual([`rs_down ${R2}`]); // 1 is not < 1
    const lost = v.checkerState(R3, 'c', false); // 0
    expect(kinds(lost)).toEqual([`rs_down ${R3}`, 'quorum_down']);
    expect(lost[1]).toMatchObject({ script: '/bin/qdown', fifo: `VS ${VS} DOWN`, weightSum: 0, threshold: 1, init: false });
    expect(kinds(v.checkerState(R1, 'c', true))).toEqual([`rs_up ${R1}`]); // 1 < 3
    expect(kinds(v.checkerState(R2, 'c', true))).toEqual([`rs_up ${R2}`]); // 2 < 3
    expect(kinds(v.checkerState(R3, 'c', true))).toEqual([`rs_up ${R3}`, 'quorum_up']);
  });

  it('starts with quorum down (and says so) only when a sorry server is configured', () => {
    const cfg = (sorry: boolean): VirtualServerConfig => ({
      name: VS, quorum: 2, quorumDown: '/bin/qdown',
      realServers: [rs(1, { checkers: [{ id: 'c', alpha: true }] })],
      ...(sorry ? { sorryServer: { key: SORRY } } : {}),
    });
    expect(kinds(new VirtualServerState(cfg(false)).init())).toEqual([]);
    const v = new VirtualServerState(cfg(true));
    expect(v.init()).toMatchObject([{ kind: 'quorum_down', init: true }]);
    expect(table(v)).toEqual({ [SORRY]: 1 });
  });

  it('the sorry server replaces the alive real servers while quorum is lost', () => {
    const v = new VirtualServerState({ name: VS, quorum: 2, realServers: [rs(1), rs(2)], sorryServer: { key: SORRY } });
    v.init();
    expect(table(v)).toEqual({ [R1]: 1, [R2]: 1 });
    v.checkerState(R1, 'c', false);
    expect(table(v)).toEqual({ [SORRY]: 1 });
    // A real server coming back under the quorum does not displace the sorry server.
    v.checkerState(R1, 'c', true);
    expect(table(v)).toEqual({ [R1]: 1, [R2]: 1 });
    v.checkerState(R2, 'c', false);
    expect(table(v)).toEqual({ [SORRY]: 1 });
    v.checkerState(R2, 'c', true);
    expect(table(v)).toEqual({ [R1]: 1, [R2]: 1 });
  });

  it('sorry_server_inhibit keeps the sorry server at weight 0 while quorum holds', () => {
    const v = new VirtualServerState({ name: VS, quorum: 1, realServers: [rs(1, { inhibitOnFailure: true })], sorryServer: { key: SORRY, inhibit: true, weight: 3 } });
    v.init();
    expect(table(v)).toEqual({ [R1]: 1, [SORRY]: 0 });
    v.checkerState(R1, 'c', false);
    expect(table(v)).toEqual({ [R1]: 0, [SORRY]: 3 });
    v.checkerState(R1, 'c', true);
    expect(table(v)).toEqual({ [R1]: 1, [SORRY]: 0 });
  });

  it('at stop everything leaves IPVS; omega runs the down notifications', () => {
    const plain = new VirtualServerState(three({ realServers: [rs(1, { inhibitOnFailure: true }), rs(2)] }));
    plain.init();
    expect(plain.stop()).toEqual([]);
    expect(table(plain)).toEqual({});
    const omega = new VirtualServerState(three({ omega: true, realServers: [rs(1), rs(2), rs(3)] }));
    omega.init();
    omega.checkerState(R3, 'c', false);
    const n = omega.stop();
    expect(kinds(n)).toEqual([`rs_down ${R1}`, `rs_down ${R2}`, 'quorum_down']);
    expect(n.every((x) => x.stopping)).toBe(true);
    expect(table(omega)).toEqual({});
  });

  it('a virtual_server removed by a reload notifies down for its alive real servers, omega or not', () => {
    const v = new VirtualServerState(three());
    v.init();
    v.checkerState(R2, 'c', false);
    const n = v.stop({ removed: true });
    expect(kinds(n)).toEqual([`rs_down ${R1}`, `rs_down ${R3}`]);
    expect(n.every((x) => !x.stopping)).toBe(true);
    expect(table(v)).toEqual({});
  });
});

describe('VirtualServerState: invariants under any sequence of checker verdicts', () => {
  const event = fc.record({ rs: fc.integer({ min: 0, max: 3 }), checker: fc.integer({ min: 0, max: 1 }), up: fc.boolean(), weight: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), isWeight: fc.boolean() });
  const config = fc.record({
    quorum: fc.integer({ min: 1, max: 12 }),
    hysteresis: fc.integer({ min: 0, max: 4 }),
    sorry: fc.option(fc.record({ inhibit: fc.boolean(), weight: fc.integer({ min: 1, max: 5 }) }), { nil: undefined }),
    servers: fc.array(fc.record({ weight: fc.integer({ min: 0, max: 6 }), inhibit: fc.boolean(), alpha: fc.boolean(), checkers: fc.integer({ min: 1, max: 2 }) }), { minLength: 4, maxLength: 4 }),
  });

  it('holds quorum, sorry-server and IPVS-table invariants', () => {
    fc.assert(
      fc.property(config, fc.array(event, { maxLength: 40 }), (cfg, events) => {
        const keys = cfg.servers.map((_, i) => formatTrio(`10.1.0.${i + 1}`, 'tcp', 80));
        const v = new VirtualServerState({
          name: VS,
          quorum: cfg.quorum,
          hysteresis: cfg.hysteresis,
          realServers: cfg.servers.map((s, i) => ({
            key: keys[i]!,
            weight: s.weight,
            inhibitOnFailure: s.inhibit,
            checkers: Array.from({ length: s.checkers }, (_, j) => ({ id: `c${j}`, alpha: s.alpha })),
          })),
          ...(cfg.sorry ? { sorryServer: { key: SORRY, ...cfg.sorry } } : {}),
        });
        // A model of each checker's verdict and dynamic weight, to know who should be alive.
        const up = cfg.servers.map((s) => Array.from({ length: s.checkers }, () => !s.alpha));
        const dyn = cfg.servers.map((s) => Array.from({ length: s.checkers }, (): number | undefined => undefined));
        let lastQuorum: string | undefined;
        const track = (ns: Notification[]): void => {
          for (const n of ns) {
            if (n.kind === 'quorum_up' || n.kind === 'quorum_down') {
              expect(n.kind).not.toBe(lastQuorum);
              lastQuorum = n.kind;
            }
          }
        };
        track(v.init());
        const check = (): void => {
          const alive = cfg.servers.map((_, i) => up[i]!.every(Boolean));
          const eff = cfg.servers.map((s, i) => Math.max(0, s.weight + dyn[i]!.reduce<number>((a, w) => a + (w === undefined ? 0 : w - s.weight), 0)));
          keys.forEach((k, i) => expect(v.isAlive(k)).toBe(alive[i]));
          const sum = eff.reduce((a, w, i) => a + (alive[i] ? w : 0), 0);
          expect(v.aliveWeight()).toBe(sum);
          if (v.hasQuorum) {
            expect(sum).toBeGreaterThan(0);
            expect(sum).toBeGreaterThanOrEqual(cfg.quorum - cfg.hysteresis);
          } else {
            expect(sum).toBeLessThan(cfg.quorum + cfg.hysteresis);
          }
          const t = v.dests();
          const sorryActive = cfg.sorry !== undefined && !v.hasQuorum;
          if (cfg.sorry) {
            if (sorryActive) expect(t.get(SORRY)).toBe(cfg.sorry.weight);
            else expect(t.get(SORRY)).toBe(cfg.sorry.inhibit ? 0 : undefined);
          } else {
            expect(t.has(SORRY)).toBe(false);
          }
          keys.forEach((k, i) => {
            const s = cfg.servers[i]!;
            const expected = sorryActive || !alive[i] ? (s.inhibit ? 0 : undefined) : eff[i];
            expect(t.get(k)).toBe(expected);
          });
        };
        check();
        for (const e of events) {
          const s = cfg.servers[e.rs]!;
          const c = e.checker % s.checkers;
          if (e.isWeight) {
            // Dynamic weights arrive only from a checker that is passing.
            if (!up[e.rs]![c]) continue;
            dyn[e.rs]![c] = e.weight;
            track(v.checkerWeight(keys[e.rs]!, `c${c}`, e.weight));
          } else {
            up[e.rs]![c] = e.up;
            if (!e.up) dyn[e.rs]![c] = undefined;
            track(v.checkerState(keys[e.rs]!, `c${c}`, e.up));
          }
          check();
        }
        v.stop();
        expect(v.dests().size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('VirtualServerState: reload (clear_diff_services)', () => {
  const base = (extra: Partial<VirtualServerConfig> = {}): VirtualServerConfig => ({ name: VS, realServers: [rs(1), rs(2), rs(3)], ...extra });

  it('keeps a failed real server out and a healthy one in, without notifications', () => {
    const a = new VirtualServerState(base());
    a.init();
    a.checkerState(R1, 'c', false);
    const b = new VirtualServerState(base());
    expect(b.init(a)).toEqual([]);
    expect(table(b)).toEqual({ [R2]: 1, [R3]: 1 });
    expect(b.isAlive(R1)).toBe(false);
    expect(b.checkerUp(R1, 'c')).toBe(false);
    expect(b.checkerHasRun(R1, 'c')).toBe(true);
    expect(kinds(b.checkerState(R1, 'c', true))).toEqual([`rs_up ${R1}`]);
    expect(() => a.checkerState(R1, 'c', false)).toThrow(/init/);
  });

  it('removes real servers that are gone (notifying if alive) and adds new ones', () => {
    const a = new VirtualServerState(base());
    a.init();
    a.checkerState(R3, 'c', false);
    const b = new VirtualServerState({ name: VS, realServers: [rs(1), rs(3), rs(4)] });
    const n = b.init(a);
    const R4 = formatTrio('10.0.0.4', 'tcp', 80);
    expect(kinds(n)).toEqual([`rs_down ${R2}`]);
    expect(table(b)).toEqual({ [R1]: 1, [R4]: 1 });
  });

  it('applies a changed weight to a surviving real server, keeping misc_dynamic weights', () => {
    const a = new VirtualServerState(base());
    a.init();
    a.checkerWeight(R2, 'c', 9);
    const b = new VirtualServerState({ name: VS, realServers: [rs(1, { weight: 4 }), rs(2, { weight: 3 }), rs(3)] });
    b.init(a);
    expect(table(b)).toEqual({ [R1]: 4, [R2]: 9, [R3]: 1 });
    b.checkerWeight(R2, 'c', undefined);
    expect(table(b)).toEqual({ [R1]: 4, [R2]: 3, [R3]: 1 });
  });

  it('a replaced checker starts afresh: a new alpha checker holds a never-proven real server down', () => {
    const a = new VirtualServerState(base({ realServers: [rs(1, { checkers: [{ id: 'old', alpha: true }] }), rs(2)] }));
    a.init();
    const b = new VirtualServerState(base({ realServers: [rs(1, { checkers: [{ id: 'new', alpha: true }] }), rs(2)] }));
    b.init(a);
    expect(b.checkerUp(R1, 'new')).toBe(false);
    expect(table(b)).toEqual({ [R2]: 1 });
    // Without alpha the replaced checker lets the real server in at once.
    const c = new VirtualServerState(base({ realServers: [rs(1, { checkers: [{ id: 'plain' }] }), rs(2)] }));
    expect(kinds(c.init(b))).toEqual([`rs_up ${R1}`]);
    expect(table(c)).toEqual({ [R1]: 1, [R2]: 1 });
  });

  it('carries the sorry server and quorum, and reinstates real servers when the sorry server is dropped', () => {
    const cfg = (sorry: boolean): VirtualServerConfig => ({ name: VS, quorum: 3, realServers: [rs(1), rs(2), rs(3)], ...(sorry ? { sorryServer: { key: SORRY } } : {}) });
    const a = new VirtualServerState(cfg(true));
    a.init();
    a.checkerState(R3, 'c', false);
    expect(table(a)).toEqual({ [SORRY]: 1 });
    const b = new VirtualServerState(cfg(true));
    expect(b.init(a)).toEqual([]);
    expect(table(b)).toEqual({ [SORRY]: 1 });
    expect(b.hasQuorum).toBe(false);
    const c = new VirtualServerState(cfg(false));
    c.init(b);
    expect(table(c)).toEqual({ [R1]: 1, [R2]: 1 });
  });

  it('toggling inhibit_on_failure on a dead real server moves it in or out at weight 0', () => {
    const a = new VirtualServerState(base());
    a.init();
    a.checkerState(R1, 'c', false);
    const b = new VirtualServerState(base({ realServers: [rs(1, { inhibitOnFailure: true }), rs(2), rs(3)] }));
    b.init(a);
    expect(table(b)).toEqual({ [R1]: 0, [R2]: 1, [R3]: 1 });
    const c = new VirtualServerState(base());
    c.init(b);
    expect(table(c)).toEqual({ [R2]: 1, [R3]: 1 });
  });

  it('holds the invariants across random reloads', () => {
    const server = fc.record({ present: fc.boolean(), weight: fc.integer({ min: 0, max: 5 }), inhibit: fc.boolean(), alpha: fc.boolean(), ids: fc.subarray(['a', 'b', 'c'], { minLength: 1 }) });
    const conf = fc.record({
      quorum: fc.integer({ min: 1, max: 8 }),
      hysteresis: fc.integer({ min: 0, max: 3 }),
      sorry: fc.option(fc.boolean(), { nil: undefined }),
      servers: fc.array(server, { minLength: 4, maxLength: 4 }),
    });
    const ev = fc.record({ rs: fc.integer({ min: 0, max: 3 }), id: fc.constantFrom('a', 'b', 'c'), up: fc.boolean(), weight: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), isWeight: fc.boolean() });
    const keys = [0, 1, 2, 3].map((i) => formatTrio(`10.2.0.${i + 1}`, 'tcp', 80));
    type Conf = { quorum: number; hysteresis: number; sorry: boolean | undefined; servers: { present: boolean; weight: number; inhibit: boolean; alpha: boolean; ids: string[] }[] };
    const build = (c: Conf): VirtualServerState =>
      new VirtualServerState({
        name: VS,
        quorum: c.quorum,
        hysteresis: c.hysteresis,
        realServers: c.servers.flatMap((s, i) => (s.present ? [{ key: keys[i]!, weight: s.weight, inhibitOnFailure: s.inhibit, checkers: s.ids.map((id) => ({ id, alpha: s.alpha })) }] : [])),
        ...(c.sorry !== undefined ? { sorryServer: { key: SORRY, inhibit: c.sorry } } : {}),
      });

    fc.assert(
      fc.property(fc.array(fc.tuple(conf, fc.array(ev, { maxLength: 12 })), { minLength: 2, maxLength: 4 }), (phases) => {
        let v: VirtualServerState | undefined;
        // What each checker last asked for (misc_dynamic), carried like the state carries it.
        let asked = new Map<string, number | undefined>();
        for (const [c, events] of phases) {
          const prev = v;
          const prevUp = new Map<string, boolean>();
          if (prev) {
            c.servers.forEach((s, i) => {
              if (!s.present) return;
              for (const id of s.ids) {
                try {
                  if (prev.checkerHasRun(keys[i]!, id)) prevUp.set(`${i}/${id}`, prev.checkerUp(keys[i]!, id));
                } catch {
                  // not in the previous configuration
                }
              }
            });
          }
          v = build(c);
          v.init(prev);
          const nextAsked = new Map<string, number | undefined>();
          c.servers.forEach((s, i) => s.present && s.ids.forEach((id) => asked.has(`${i}/${id}`) && nextAsked.set(`${i}/${id}`, asked.get(`${i}/${id}`))));
          asked = nextAsked;
          // Checkers that had a verdict keep it.
          for (const [k, up] of prevUp) {
            const [i, id] = k.split('/');
            expect(v.checkerUp(keys[Number(i)]!, id!)).toBe(up);
          }
          const check = (st: VirtualServerState): void => {
            let sum = 0;
            const t = st.dests();
            const sorryActive = c.sorry !== undefined && !st.hasQuorum;
            c.servers.forEach((s, i) => {
              const k = keys[i]!;
              if (!s.present) return void expect(t.has(k)).toBe(false);
              const alive = s.ids.every((id) => st.checkerUp(k, id));
              expect(st.isAlive(k)).toBe(alive);
              const eff = Math.max(0, s.weight + s.ids.reduce((a, id) => {
                const w = asked.get(`${i}/${id}`);
                return a + (w === undefined ? 0 : w - s.weight);
              }, 0));
              if (alive) sum += eff;
              const expected = sorryActive || !alive ? (s.inhibit ? 0 : undefined) : eff;
              expect(t.get(k)).toBe(expected);
            });
            expect(st.aliveWeight()).toBe(sum);
            if (st.hasQuorum) expect(sum).toBeGreaterThanOrEqual(Math.max(1, c.quorum - c.hysteresis));
            else expect(sum).toBeLessThan(c.quorum + c.hysteresis);
            if (c.sorry !== undefined) expect(t.get(SORRY)).toBe(sorryActive ? 1 : c.sorry ? 0 : undefined);
            else expect(t.has(SORRY)).toBe(false);
          };
          check(v);
          for (const e of events) {
            const s = c.servers[e.rs]!;
            if (!s.present || !s.ids.includes(e.id)) continue;
            const k = keys[e.rs]!;
            if (e.isWeight) {
              if (!v.checkerUp(k, e.id)) continue;
              asked.set(`${e.rs}/${e.id}`, e.weight);
              v.checkerWeight(k, e.id, e.weight);
            } else {
              if (!e.up) asked.delete(`${e.rs}/${e.id}`);
              v.checkerState(k, e.id, e.up);
            }
            check(v);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
