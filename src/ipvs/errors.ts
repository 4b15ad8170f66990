// Errors of the control operations (ip_vs_ctl.c returns an errno; so do we).
// The code carries IPVS's errno meaning so lvsadm can print exactly what
// ipvsadm prints (ipvs_strerror in libipvs.c) for the same operation; the
// control protocol sends it as is and re-exports these names.

export type ErrorCode =
  | 'EEXIST'      // Service already exists / Destination already exists
  | 'ESRCH'       // No such service / Service not defined
  | 'ENOENT'      // Scheduler or persistence engine not found / No such destination
  | 'ERANGE'      // Numerical result out of range (lthreshold > uthreshold)
  | 'EINVAL'      // Invalid argument
  | 'EOPNOTSUPP'  // not supported (yet)
  | 'ENODEV'      // Unknown mcast interface (start-daemon)
  | 'EPROTO';     // bad request / protocol version mismatch

/** Thrown by the engine's control operations (and the control server's handlers); becomes an error reply. */
export class ControlError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'ControlError';
  }
}
