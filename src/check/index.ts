// The public face of src/check/: keepalived's health checkers and the
// ipwrapper.c logic that turns their verdicts into IPVS dests.

export * from './types.js';
export { Checker, realTimers } from './checker.js';
export type { CheckerEvents, CheckerResultEvent, CheckerStateEvent, CheckerTiming, Timers } from './checker.js';
export { checkerName, createChecker, createProbe } from './factory.js';
export type { CreateCheckerExtras } from './factory.js';
export { VirtualServerState, formatTrio } from './real-server-state.js';
export type { Notification, RealServerConfig, SorryServerConfig, VirtualServerConfig } from './real-server-state.js';
export { VirtualServerChecks, runNotification } from './virtual-server.js';
export type {
  CheckerStateReport,
  RealServerChecks,
  VirtualServerChecksConfig,
  VirtualServerChecksEvents,
  VirtualServerChecksExtras,
} from './virtual-server.js';
export type { MiscProbeTuning } from './misc-check.js';
export { httpGetProbe, statusAccepted } from './http-get.js';
export { sslGetProbe } from './ssl-get.js';
export { tcpCheckProbe } from './tcp-check.js';
export { miscCheckProbe } from './misc-check.js';
export { dnsCheckProbe } from './dns-check.js';
