// From checker options to a running checker: picks the probe for the
// keepalived checker type and applies that type's keepalived defaults.

import { Checker, realTimers, type Timers } from './checker.js';
import { dnsCheckProbe } from './dns-check.js';
import { httpGetProbe } from './http-get.js';
import { miscCheckProbe, type MiscProbeTuning } from './misc-check.js';
import { sslGetProbe } from './ssl-get.js';
import { tcpCheckProbe } from './tcp-check.js';
import { DEFAULTS, timingFor, type CheckOptions, type Probe } from './types.js';

export function createProbe(options: CheckOptions, tuning: MiscProbeTuning = {}): Probe {
  switch (options.type) {
    case 'HTTP_GET':
      return httpGetProbe(options);
    case 'SSL_GET':
      return sslGetProbe(options);
    case 'TCP_CHECK':
      return tcpCheckProbe(options);
    case 'MISC_CHECK':
      return miscCheckProbe(options, tuning);
    case 'DNS_CHECK':
      return dnsCheckProbe(options);
  }
}

/** A short name for logs, e.g. "HTTP_GET 10.0.0.1:80" or "MISC_CHECK /usr/local/bin/chk". */
export function checkerName(options: CheckOptions): string {
  if (options.type === 'MISC_CHECK') return `MISC_CHECK ${options.miscPath}`;
  const port = options.connectPort ?? DEFAULTS.dnsPort;
  const ip = options.connectIp.includes(':') ? `[${options.connectIp}]` : options.connectIp;
  return `${options.type} ${ip}:${port}`;
}

export interface CreateCheckerExtras extends MiscProbeTuning {
  name?: string;
  timers?: Timers;
}

/** A stopped checker; call start(), listen to 'state' / 'up' / 'down' / 'weight', stop() to end it. */
export function createChecker(options: CheckOptions, extras: CreateCheckerExtras = {}): Checker {
  const probe = createProbe(options, extras);
  return new Checker(extras.name ?? checkerName(options), probe, timingFor(options), extras.timers ?? realTimers);
}
