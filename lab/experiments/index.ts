import type { Experiment } from './types.js';
import { arp } from './arp.js';
import { dr, nat, tun } from './methods.js';
import { failover, healthcheck, kill9 } from './ha.js';
import { live } from './live.js';
import { ecmp } from './ecmp.js';

/** Every experiment of the notes, in the order the notes run them. */
export const experiments: Experiment[] = [live, dr, nat, tun, arp, healthcheck, failover, kill9, ecmp];
