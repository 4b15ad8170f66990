// ipvs_strerror (libipvs.c): the message ipvsadm prints for a kernel refusal
// depends on which call refused, so lvsd's errno-like codes are mapped per
// operation; anything unmapped falls back to strerror() like libipvs does.
import type { ErrorCode } from '../control/protocol.js';

const BY_OP: Record<string, Partial<Record<string, string>>> = {
  'add-service': { EEXIST: 'Service already exists', ENOENT: 'Scheduler or persistence engine not found' },
  'edit-service': { ESRCH: 'No such service', ENOENT: 'Scheduler or persistence engine not found' },
  'del-service': { ESRCH: 'No such service' },
  'zero': { ESRCH: 'No such service' },
  'add-dest': { ESRCH: 'Service not defined', EEXIST: 'Destination already exists' },
  'edit-dest': { ESRCH: 'Service not defined', ENOENT: 'No such destination' },
  'del-dest': { ESRCH: 'Service not defined', ENOENT: 'No such destination' },
  'start-daemon': { EEXIST: 'Daemon has already run' },
  'stop-daemon': { ESRCH: 'No daemon is running' },
  'list-services': { ESRCH: 'No such service' },
  // lvsadm's --trace extension.
  'trace': { ESRCH: 'No such service' },
};

const ANY_OP: Partial<Record<string, string>> = {
  EPERM: 'Permission denied (you must be root)',
  EINVAL: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  ENOMEM: 'Memory allocation problem',
};

const STRERROR: Partial<Record<string, string>> = {
  EEXIST: 'File exists',
  ESRCH: 'No such process',
  ENOENT: 'No such file or directory',
  ERANGE: 'Numerical result out of range',
  EINVAL: 'Invalid argument',
  ENODEV: 'No such device',
};

/**
 * The text ipvsadm would print for `code` returned by `op`. EOPNOTSUPP and
 * EPROTO have no faithful ipvsadm wording (libipvs says "...with IPv6"), so
 * lvsd's own message is shown for them.
 */
export function ipvsStrerror(op: string, code: ErrorCode | string, serverMessage: string): string {
  const specific = BY_OP[op]?.[code];
  if (specific) return specific;
  if (code === 'EOPNOTSUPP' || code === 'EPROTO') return serverMessage;
  return ANY_OP[code] ?? STRERROR[code] ?? serverMessage;
}
