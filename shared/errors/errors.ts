/**
 * Error categories of the domain. Services throw these; only the API's error handler knows
 * HTTP, and it renders them as problem+json with their stable `code`.
 */
export interface FieldError {
  path: string;
  message: string;
}

export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly title: string;
  readonly code: string;
  /** How long to wait before retrying: every 429 and 503 answer says it (`Retry-After`). */
  readonly retryAfterSeconds?: number;

  constructor(code: string, detail: string, options?: ErrorOptions) {
    super(detail, options);
    this.code = code;
  }
}

export class ValidationError extends AppError {
  readonly status = 400;
  readonly title = 'Request validation failed';
  readonly errors: FieldError[];

  constructor(detail: string, errors: FieldError[] = [], code = 'VALIDATION_FAILED') {
    super(code, detail);
    this.errors = errors;
  }
}

export class MalformedRequestError extends AppError {
  readonly status = 400;
  readonly title = 'Malformed request';
  constructor(detail: string, code = 'MALFORMED_REQUEST') {
    super(code, detail);
  }
}

export class UnauthenticatedError extends AppError {
  readonly status = 401;
  readonly title = 'Authentication required';
  constructor(detail = 'A valid API key is required: send it as "Authorization: Bearer <key>".') {
    super('UNAUTHENTICATED', detail);
  }
}

export class ForbiddenError extends AppError {
  readonly status = 403;
  readonly title = 'Forbidden';
  constructor(detail: string, code = 'INSUFFICIENT_SCOPE') {
    super(code, detail);
  }
}

export class NotFoundError extends AppError {
  readonly status = 404;
  readonly title = 'Not found';
  constructor(detail: string, code = 'NOT_FOUND') {
    super(code, detail);
  }
}

export class MethodNotAllowedError extends AppError {
  readonly status = 405;
  readonly title = 'Method not allowed';
  constructor(detail: string) {
    super('METHOD_NOT_ALLOWED', detail);
  }
}

export class ConflictError extends AppError {
  readonly status = 409;
  readonly title = 'Conflict';
  constructor(detail: string, code = 'CONFLICT') {
    super(code, detail);
  }
}

export class UnprocessableError extends AppError {
  readonly status = 422;
  readonly title = 'Unprocessable request';
  constructor(detail: string, code = 'UNPROCESSABLE') {
    super(code, detail);
  }
}

export class PayloadTooLargeError extends AppError {
  readonly status = 413;
  readonly title = 'Payload too large';
  constructor(detail: string) {
    super('PAYLOAD_TOO_LARGE', detail);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  readonly status = 415;
  readonly title = 'Unsupported media type';
  constructor(detail: string) {
    super('UNSUPPORTED_MEDIA_TYPE', detail);
  }
}

export class RateLimitedError extends AppError {
  readonly status = 429;
  readonly title = 'Too many requests';
  override readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('RATE_LIMITED', `Rate limit exceeded; retry in ${retryAfterSeconds} s.`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A budget's counter holds as many live reservations as it takes (MAX_HOLDS_PER_COUNTER). */
export class TooManyReservationsError extends AppError {
  readonly status = 429;
  readonly title = 'Too many live reservations';
  /** Holds are settled, released or expire within seconds to minutes; a second is a fair first wait. */
  override readonly retryAfterSeconds = 1;
  constructor(budgetId: string) {
    super(
      'TOO_MANY_RESERVATIONS',
      `Budget ${budgetId} holds as many live reservations as it takes (4,000): settle or release reservations, or use a shorter ttl_seconds, and retry.`,
    );
  }
}

export class ServiceUnavailableError extends AppError {
  readonly status = 503;
  readonly title = 'Service unavailable';
  override readonly retryAfterSeconds: number;
  constructor(
    detail: string,
    code = 'SERVICE_UNAVAILABLE',
    options?: ErrorOptions & { retryAfterSeconds?: number },
  ) {
    super(code, detail, options);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 2;
  }
}
