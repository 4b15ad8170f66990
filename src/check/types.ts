// Options for keepalived's health checkers, one field per keepalived.conf
// keyword (camelCased; the keyword is named in each comment). Every time is in
// milliseconds, whereas keepalived.conf writes seconds: the integrator maps the
// parsed config model to these, so src/check/ depends on nothing in config/.

/** keepalived's checker keywords inside a real_server block. */
export type CheckerType = 'HTTP_GET' | 'SSL_GET' | 'TCP_CHECK' | 'MISC_CHECK' | 'DNS_CHECK';

/** Scheduling keywords shared by every checker (check_api.c). */
export interface CheckTiming {
  /** delay_loop: pause between rounds. keepalived's default is 60 s. */
  delayLoop?: number;
  /**
   * retry: how many extra attempts a failing round makes before the checker
   * declares DOWN. keepalived's default is 1, 3 for DNS_CHECK, 0 for MISC_CHECK.
   */
  retry?: number;
  /**
   * delay_before_retry: pause before each retry. keepalived's default is 3 s
   * for HTTP_GET/SSL_GET, delay_loop for DNS_CHECK, 1 s otherwise.
   */
  delayBeforeRetry?: number;
  /** warmup: the first round starts after a random delay in [0, warmup]; default delay_loop. */
  warmup?: number;
  /** alpha: the checker starts DOWN and must succeed once to come UP. */
  alpha?: boolean;
}

/** Connection keywords of the checkers that open a socket. */
export interface ConnectOptions {
  /** connect_ip: the address probed (normally the real server's). */
  connectIp: string;
  /** connect_port: normally the real server's port. */
  connectPort: number;
  /** bindto: local source address. */
  bindto?: string;
  /** bind_port: local source port. */
  bindPort?: number;
  /**
   * bind_if: the interface of a link-local IPv6 connect_ip (its scope, as
   * keepalived sets sin6_scope_id from it). keepalived also binds the socket
   * to it (SO_BINDTODEVICE), which node's sockets cannot do: for any other
   * destination it is not applied.
   */
  bindIf?: string;
  /**
   * connect_timeout: bounds the whole probe, not only connect() — a server
   * that accepts and then stalls or trickles its answer fails at this
   * deadline (keepalived issue #1822). keepalived's default is 5 s.
   */
  connectTimeout?: number;
}

/** One status_code entry: a single code or an inclusive [low, high] range. */
export type StatusCodeSpec = number | readonly [number, number];

/** url { } block of HTTP_GET / SSL_GET. */
export interface HttpUrl {
  /** path: the request target, e.g. "/healthz". */
  path: string;
  /** digest: hex MD5 of the expected body (keepalived's genhash output). */
  digest?: string;
  /** status_code: accepted codes; default 200-299. */
  statusCodes?: readonly StatusCodeSpec[];
  /** virtualhost: Host header (and SNI name) for this url only. */
  virtualhost?: string;
}

/** http_protocol: 1.0C and 1.1 send "Connection: close", 1.0 does not. */
export type HttpProtocol = '1.0' | '1.0C' | '1.1';

export interface HttpGetOptions extends CheckTiming, ConnectOptions {
  type: 'HTTP_GET';
  /** One url { } block per entry; every url must pass for the check to pass. */
  urls: readonly HttpUrl[];
  /** http_protocol; default '1.0'. */
  httpProtocol?: HttpProtocol;
  /**
   * virtualhost of the checker. keepalived falls back to the real_server's
   * and then the virtual_server's virtualhost: the integrator resolves that
   * chain and passes the result here.
   */
  virtualhost?: string;
}

export interface SslGetOptions extends Omit<HttpGetOptions, 'type'> {
  type: 'SSL_GET';
  /** enable_sni: send a TLS server name. */
  enableSni?: boolean;
  /** sni_name: the server name to send; else the url's or checker's virtualhost. */
  sniName?: string;
}

export interface TcpCheckOptions extends CheckTiming, ConnectOptions {
  type: 'TCP_CHECK';
}

export interface MiscCheckOptions extends CheckTiming {
  type: 'MISC_CHECK';
  /** misc_path: a shell command line, run as `/bin/sh -c misc_path`. */
  miscPath: string;
  /** misc_timeout: the script's process group is killed after this; default delay_loop. */
  miscTimeout?: number;
  /** misc_dynamic: exit 2..255 means UP with weight exit-2. */
  miscDynamic?: boolean;
  /** user: run the script as this user (name or uid); needs root. */
  user?: string | number;
  /** group of `user` (name or gid); default the user's primary group. */
  group?: string | number;
}

/** DNS record types keepalived's check_dns.c knows, by name. */
export const DNS_TYPES = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, RRSIG: 46, DNSKEY: 48,
} as const;
export type DnsType = keyof typeof DNS_TYPES;

export interface DnsCheckOptions extends CheckTiming, Omit<ConnectOptions, 'connectPort'> {
  type: 'DNS_CHECK';
  /** connect_port; default 53. */
  connectPort?: number;
  /** type: the query type; default SOA. */
  dnsType?: DnsType;
  /** name: the query name; default ".". */
  name?: string;
}

export type CheckOptions =
  | HttpGetOptions
  | SslGetOptions
  | TcpCheckOptions
  | MiscCheckOptions
  | DnsCheckOptions;

/**
 * The host a checker socket connects to: connect_ip, with the bind_if zone
 * when it is a link-local IPv6 address ("fe80::12%eth0"), which is what
 * makes the kernel pick that link.
 */
export function socketHost(o: Pick<ConnectOptions, 'connectIp' | 'bindIf'>): string {
  return o.bindIf !== undefined && /^fe[89ab]/i.test(o.connectIp) && o.connectIp.includes(':') ? `${o.connectIp}%${o.bindIf}` : o.connectIp;
}

/** The outcome of one probe. */
export type ProbeResult =
  | { ok: true; /** misc_dynamic only: the weight the script asked for. */ weight?: number; exitCode?: number }
  | { ok: false; reason: string; exitCode?: number };

/**
 * One attempt of a check. Resolves (never rejects) once the answer is known
 * or the probe gave up; aborting `signal` makes it give up at once and free
 * its socket or process.
 */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

/** keepalived's defaults (check_api.c, check_http.c, check_dns.c, check_misc.c), in ms. */
export const DEFAULTS = {
  delayLoop: 60_000,
  connectTimeout: 5_000,
  retry: 1,
  dnsRetry: 3,
  miscRetry: 0,
  httpDelayBeforeRetry: 3_000,
  delayBeforeRetry: 1_000,
  dnsPort: 53,
  dnsType: 'SOA' as DnsType,
  dnsName: '.',
} as const;

/** CheckTiming with every default applied. */
export type CheckerTiming = Required<CheckTiming>;

/** The retry/delay defaults keepalived applies per checker type. */
export function timingFor(options: CheckOptions): CheckerTiming {
  const delayLoop = options.delayLoop ?? DEFAULTS.delayLoop;
  let retry: number;
  let delayBeforeRetry: number;
  switch (options.type) {
    case 'HTTP_GET':
    case 'SSL_GET':
      retry = DEFAULTS.retry;
      delayBeforeRetry = DEFAULTS.httpDelayBeforeRetry;
      break;
    case 'DNS_CHECK':
      retry = DEFAULTS.dnsRetry;
      delayBeforeRetry = delayLoop;
      break;
    case 'MISC_CHECK':
      retry = DEFAULTS.miscRetry;
      delayBeforeRetry = DEFAULTS.delayBeforeRetry;
      break;
    case 'TCP_CHECK':
      retry = DEFAULTS.retry;
      delayBeforeRetry = DEFAULTS.delayBeforeRetry;
      break;
  }
  return {
    delayLoop,
    retry: options.retry ?? retry,
    delayBeforeRetry: options.delayBeforeRetry ?? delayBeforeRetry,
    // check_data.c: an unset warmup defaults to delay_loop, spreading first rounds.
    warmup: options.warmup ?? delayLoop,
    alpha: options.alpha ?? false,
  };
}
