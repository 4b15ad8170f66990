import type { Experiment } from './types.js';
import { arp } from './arp.js';

/** Every experiment of the notes, in the order the notes run them. */
export const experiments: Experiment[] = [arp];
