// TCP_CHECK (keepalived check_tcp.c): the real server is up when a TCP
// connection completes within connect_timeout; the connection is closed at
// once without sending anything.

import * as net from 'node:net';
import { deadline, failReason } from './deadline.js';
import { DEFAULTS, socketHost, type Probe, type ProbeResult, type TcpCheckOptions } from './types.js';

export function tcpCheckProbe(opts: TcpCheckOptions): Probe {
  const timeout = opts.connectTimeout ?? DEFAULTS.connectTimeout;
  const target = `${net.isIPv6(opts.connectIp) ? `[${opts.connectIp}]` : opts.connectIp}:${opts.connectPort}`;
  return (parent) => {
    const d = deadline(parent, timeout);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      let sock: net.Socket | undefined;
      const finish = (r: ProbeResult): void => {
        if (settled) return;
        settled = true;
        d.clear();
        d.signal.removeEventListener('abort', onAbort);
        // resetAndDestroy would be ruder than keepalived's close(); a plain destroy sends FIN.
        sock?.destroy();
        resolve(r);
      };
      const onAbort = (): void => finish({ ok: false, reason: `${target}: connect: ${failReason(d, timeout)}` });
      if (d.signal.aborted) return onAbort();
      d.signal.addEventListener('abort', onAbort, { once: true });
      try {
        sock = net.connect({
          host: socketHost(opts),
          port: opts.connectPort,
          ...(opts.bindto !== undefined ? { localAddress: opts.bindto } : {}),
          ...(opts.bindPort !== undefined ? { localPort: opts.bindPort } : {}),
        });
      } catch (err) {
        return finish({ ok: false, reason: `${target}: connect: ${failReason(d, timeout, err)}` });
      }
      sock.once('connect', () => finish({ ok: true }));
      sock.once('error', (err) => finish({ ok: false, reason: `${target}: connect: ${failReason(d, timeout, err)}` }));
    });
  };
}
