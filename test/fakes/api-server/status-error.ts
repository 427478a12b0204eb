// `Status` bodies (meta/v1) exactly as a real API server writes them for failures.

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'NotAcceptable'
  | 'Expired'
  | 'Gone'
  | 'ServiceUnavailable'
  | 'Unauthorized'
  | 'InternalError';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** Thrown by the store and the router; the router turns it into an HTTP answer with a Status body. */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiStatusError';
  }

  toStatus(): StatusBody {
    const body: StatusBody = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

/** `group` is "" for the core group, as in real Status details. */
export function notFound(group: string, plural: string, name: string): ApiStatusError {
  const resource = group === '' ? plural : `${plural}.${group}`;
  return new ApiStatusError(404, 'NotFound', `${resource} "${name}" not found`, { name, group, kind: plural });
}

export function alreadyExists(group: string, plural: string, name: string): ApiStatusError {
  const resource = group === '' ? plural : `${plural}.${group}`;
  return new ApiStatusError(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, group, kind: plural });
}

export function conflict(group: string, plural: string, name: string): ApiStatusError {
  const resource = group === '' ? plural : `${plural}.${group}`;
  return new ApiStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: plural },
  );
}

export function invalid(group: string, kind: string, name: string, causes: StatusCause[]): ApiStatusError {
  const what = group === '' ? kind : `${kind}.${group}`;
  const text = causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`).join(', ');
  return new ApiStatusError(422, 'Invalid', `${what} "${name}" is invalid: ${text}`, { name, group, kind, causes });
}

export function badRequest(message: string): ApiStatusError {
  return new ApiStatusError(400, 'BadRequest', message);
}

export function expired(message: string): ApiStatusError {
  return new ApiStatusError(410, 'Expired', message);
}

/** The reason a real server pairs with an HTTP code (for injected failures). */
export function reasonForCode(code: number): StatusReason {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 422:
      return 'Invalid';
    case 503:
      return 'ServiceUnavailable';
    default:
      return 'InternalError';
  }
}

/** What a real server answers for a path it does not serve. */
export function resourceNotFound(): ApiStatusError {
  return new ApiStatusError(404, 'NotFound', 'the server could not find the requested resource', {});
}
