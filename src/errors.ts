/**
 * The error catalogue. Every error l2vip raises on purpose is one of these classes, with a
 * stable `code` and a message that says what to do. docs/errors.md lists every code; a test
 * (errors.test.ts) checks that the two agree.
 */
export abstract class L2vipError extends Error {
  abstract readonly code: string;
  /** Exit code the CLI uses when this error ends the process. */
  readonly exitCode: number = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A command-line argument or flag is invalid (not an IP, unknown option value, ...). */
export class UsageError extends L2vipError {
  readonly code = 'L2VIP_USAGE';
}

/** The process lacks a privilege it needs (CAP_NET_RAW / CAP_NET_ADMIN, usually: run as root). */
export class PermissionError extends L2vipError {
  readonly code = 'L2VIP_PERMISSION';
}

/** A named network interface does not exist or cannot be used. */
export class InterfaceError extends L2vipError {
  readonly code = 'L2VIP_INTERFACE';
}

/** A system call on a socket failed; `errno` carries the symbolic code (EPERM, ENODEV, ...). */
export class SocketError extends L2vipError {
  readonly code = 'L2VIP_SOCKET';
  constructor(
    message: string,
    readonly errno: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A configuration file or object is invalid; `issues` lists every problem found. */
export class ConfigError extends L2vipError {
  readonly code = 'L2VIP_CONFIG_INVALID';
  constructor(
    message: string,
    readonly issues: readonly { path: string; message: string; code?: string }[] = [],
  ) {
    super(message);
  }
}

/** A file could not be read. */
export class FileError extends L2vipError {
  readonly code = 'L2VIP_FILE';
}

/** Changing host state (routes, nftables, sysctls) for local delivery failed. */
export class HostSetupError extends L2vipError {
  readonly code = 'L2VIP_HOST_SETUP';
}

/** A VIP is one of this host's own addresses: announcing or delivering it would take the address from the host. */
export class VipHostAddressError extends L2vipError {
  readonly code = 'L2VIP_VIP_HOST_ADDRESS';
}

/** An external command the product runs (ip, nft, ...) is missing. */
export class MissingToolError extends L2vipError {
  readonly code = 'L2VIP_MISSING_TOOL';
}

/** `l2vip lab` could not finish: a node never became ready, the VIPs never became stable. */
export class LabError extends L2vipError {
  readonly code = 'L2VIP_LAB_FAILED';
}

/** `l2vip status`: nothing answers at the status endpoint, or what answers is not an l2vip status endpoint. Exit code 3. */
export class NotRunningError extends L2vipError {
  readonly code = 'L2VIP_NOT_RUNNING';
  override readonly exitCode = 3;
}

/** No usable Kubernetes client configuration (kubeconfig file, $KUBECONFIG, or in-cluster). */
export class KubeconfigError extends L2vipError {
  readonly code = 'L2VIP_KUBECONFIG';
}

/** A request to the Kubernetes API server failed; `status` is the HTTP status (0: no answer). */
export class KubernetesApiError extends L2vipError {
  readonly code = 'L2VIP_K8S_API';
  constructor(
    message: string,
    readonly status: number = 0,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const ERROR_CLASSES = [
  UsageError,
  PermissionError,
  InterfaceError,
  SocketError,
  ConfigError,
  FileError,
  HostSetupError,
  MissingToolError,
  VipHostAddressError,
  LabError,
  KubeconfigError,
  KubernetesApiError,
  NotRunningError,
] as const;
