// SSL_GET (keepalived check_ssl.c): HTTP_GET over TLS. As keepalived, the
// real server's certificate is not verified (a health check proves the
// service answers, not who it is), and a server name is sent only with
// enable_sni. The request, status, digest and deadline rules are HTTP_GET's.

import { httpGetProbe } from './http-get.js';
import type { Probe, SslGetOptions } from './types.js';

export function sslGetProbe(opts: SslGetOptions): Probe {
  return httpGetProbe(opts);
}
