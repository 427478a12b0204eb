import { InterfaceError, type L2vipError, PermissionError, SocketError } from '../errors.js';
import { isNativeErrnoError, type NativeErrnoError } from './native.js';

/**
 * Maps a failed system call of the addon to the error catalogue: missing privilege ->
 * PermissionError, missing interface -> InterfaceError, anything else -> SocketError with the
 * errno name. `what` says what was being done ("opening a raw socket on eth0").
 */
export function socketError(err: NativeErrnoError, what: string): L2vipError {
  switch (err.code) {
    case 'EPERM':
    case 'EACCES':
      return new PermissionError(`${what}: raw sockets need CAP_NET_RAW: run as root`, { cause: err });
    case 'ENODEV':
    case 'ENXIO':
      return new InterfaceError(`${what}: no such network interface (${err.code})`, { cause: err });
    default:
      return new SocketError(`${what}: ${err.message}`, err.code, { cause: err });
  }
}

/** Throws `err` mapped by socketError if it is a failed system call, unchanged otherwise (a bug). */
export function rethrowSocketError(err: unknown, what: string): never {
  throw isNativeErrnoError(err) ? socketError(err, what) : err;
}
