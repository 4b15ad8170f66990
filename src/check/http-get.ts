// HTTP_GET (keepalived check_http.c): GET every url in turn, each on a fresh
// connection, and pass only when every one answers with an accepted status
// and, when a digest is given, a body whose MD5 matches.
//
// Unlike keepalived (issue #1822), connect_timeout bounds each url's whole
// exchange — connect, headers and the complete body — so a server that
// accepts and never answers, or trickles its body, fails on time.
//
// Node's http client always writes an HTTP/1.1 request line; http_protocol
// therefore only decides the Connection header, as it does in keepalived
// ("1.0C" and "1.1" send "Connection: close", "1.0" sends none).

import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIPv6 } from 'node:net';
import { deadline, failReason } from './deadline.js';
import {
  DEFAULTS,
  socketHost,
  type HttpGetOptions,
  type HttpUrl,
  type Probe,
  type ProbeResult,
  type SslGetOptions,
  type StatusCodeSpec,
} from './types.js';

const DEFAULT_STATUS: readonly StatusCodeSpec[] = [[200, 299]];

export function statusAccepted(code: number, specs: readonly StatusCodeSpec[] | undefined): boolean {
  const list = specs && specs.length > 0 ? specs : DEFAULT_STATUS;
  return list.some((s) => (typeof s === 'number' ? code === s : code >= s[0] && code <= s[1]));
}

/** The Host header keepalived sends: the virtualhost, else "ip:port" ("[ip]:port" for IPv6). */
export function hostHeader(opts: HttpGetOptions | SslGetOptions, url: HttpUrl): string {
  const vhost = url.virtualhost ?? opts.virtualhost;
  if (vhost) return vhost;
  const ip = isIPv6(opts.connectIp) ? `[${opts.connectIp}]` : opts.connectIp;
  return `${ip}:${opts.connectPort}`;
}

/** keepalived's SNI choice: sni_name, else the url's, else the checker's virtualhost. */
function sniFor(opts: SslGetOptions, url: HttpUrl): string {
  if (!opts.enableSni) return '';
  return opts.sniName ?? url.virtualhost ?? opts.virtualhost ?? '';
}

function fetchUrl(
  opts: HttpGetOptions | SslGetOptions,
  url: HttpUrl,
  parent: AbortSignal,
): Promise<ProbeResult> {
  const timeout = opts.connectTimeout ?? DEFAULTS.connectTimeout;
  const d = deadline(parent, timeout);
  const ip = isIPv6(opts.connectIp) ? `[${opts.connectIp}]` : opts.connectIp;
  const vhost = url.virtualhost ?? opts.virtualhost;
  const target = `${opts.type === 'SSL_GET' ? 'https' : 'http'}://${ip}:${opts.connectPort}${url.path}${vhost ? ` (Host ${vhost})` : ''}`;

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;
    const finish = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      d.clear();
      d.signal.removeEventListener('abort', onAbort);
      // The check has its answer: never leave the socket for keep-alive reuse.
      req?.destroy();
      resolve(r);
    };
    const fail = (what: string, err?: unknown): void =>
      finish({ ok: false, reason: `${target}: ${what}${err === undefined ? '' : `: ${failReason(d, timeout, err)}`}` });
    const onAbort = (): void =>
      fail(d.reason() === 'timeout' ? `no complete answer: timeout after ${timeout} ms` : 'stopped');
    if (d.signal.aborted) return onAbort();
    d.signal.addEventListener('abort', onAbort, { once: true });

    const headers: http.OutgoingHttpHeaders = {
      'User-Agent': 'KeepAliveClient',
      Host: hostHeader(opts, url),
    };
    const protocol = opts.httpProtocol ?? '1.0';
    if (protocol !== '1.0') headers['Connection'] = 'close';

    const common: http.RequestOptions = {
      host: socketHost(opts),
      port: opts.connectPort,
      path: url.path,
      method: 'GET',
      headers,
      setHost: false,
      agent: false,
      ...(opts.bindto !== undefined ? { localAddress: opts.bindto } : {}),
      ...(opts.bindPort !== undefined ? { localPort: opts.bindPort } : {}),
    };
    try {
      if (opts.type === 'SSL_GET') {
        req = https.request({
          ...common,
          // keepalived does not verify the real server's certificate.
          rejectUnauthorized: false,
          // An empty servername makes node send no SNI instead of deriving one from Host.
          servername: sniFor(opts, url),
        });
      } else {
        req = http.request(common);
      }
    } catch (err) {
      return fail('request failed', err);
    }
    if (protocol === '1.0') req.removeHeader('Connection');

    req.on('error', (err) => fail('request failed', err));
    req.on('response', (res) => {
      const code = res.statusCode ?? 0;
      const md5 = createHash('md5');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        md5.update(chunk);
      });
      res.on('error', (err) => fail('response failed', err));
      res.on('end', () => {
        if (!res.complete) return fail('response cut short');
        if (!statusAccepted(code, url.statusCodes)) return fail(`HTTP status ${code} not accepted`);
        if (url.digest !== undefined) {
          const got = md5.digest('hex');
          if (got !== url.digest.toLowerCase()) return fail(`MD5 digest ${got} != ${url.digest.toLowerCase()} (${bytes} bytes)`);
        }
        finish({ ok: true });
      });
      res.on('close', () => {
        if (!res.complete) fail('connection closed before the body was complete');
      });
    });
    req.end();
  });
}

/** The probe of an HTTP_GET or SSL_GET checker. */
export function httpGetProbe(opts: HttpGetOptions | SslGetOptions): Probe {
  if (opts.urls.length === 0) throw new Error(`${opts.type} ${opts.connectIp}:${opts.connectPort}: no url { } block; keepalived requires at least one`);
  return async (signal) => {
    for (const url of opts.urls) {
      const r = await fetchUrl(opts, url, signal);
      if (!r.ok) return r;
    }
    return { ok: true };
  };
}
