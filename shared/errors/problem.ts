import { AppError, type FieldError, ValidationError } from './errors.js';

/** RFC 9457 problem details, with Tollgate's stable `code` and the request id. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  errors?: FieldError[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Where each code is explained; the README's error catalogue lists the same codes. */
export function problemTypeUri(code: string): string {
  return `https://tollgate.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

/** Renders a domain error; anything that is not an `AppError` becomes an opaque 500. */
export function toProblem(error: unknown, requestId: string): Problem {
  if (error instanceof AppError) {
    const problem: Problem = {
      type: problemTypeUri(error.code),
      title: error.title,
      status: error.status,
      detail: error.message,
      code: error.code,
      request_id: requestId,
    };
    if (error instanceof ValidationError) problem.errors = error.errors;
    return problem;
  }
  return {
    type: problemTypeUri('INTERNAL'),
    title: 'Internal server error',
    status: 500,
    // Never echo internals: the request id is what support needs to find the logged cause.
    detail: `An unexpected error occurred. Quote request id ${requestId} when reporting it.`,
    code: 'INTERNAL',
    request_id: requestId,
  };
}
