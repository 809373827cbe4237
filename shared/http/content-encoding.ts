import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { MalformedRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors/errors.js';

const gunzipAsync = promisify(gunzip);

/** The content codings a request's body went through (RFC 9110 §8.4), `identity` left out. */
export function contentCodings(header: string | undefined): string[] {
  return (header ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
}

/** Whether a body with these codings can be read: plain, or gzip where `gzipAccepted`. */
export function assertReadableCodings(codings: string[], gzipAccepted: boolean): void {
  if (codings.length === 0) return;
  if (gzipAccepted && codings.length === 1 && isGzip(codings[0])) return;
  throw new UnsupportedMediaTypeError(
    gzipAccepted
      ? `Content-Encoding "${codings.join(', ')}" is not supported; send the body as is or gzip-compressed.`
      : `Content-Encoding "${codings.join(', ')}" is not supported here; send the body uncompressed.`,
  );
}

const isGzip = (coding: string | undefined) => coding === 'gzip' || coding === 'x-gzip';

/**
 * The body as text, gunzipped when it was sent so. The decompressed body is held to the same
 * limit as a plain one: a few kilobytes of gzip can stand for gigabytes.
 */
export async function decodeBodyText(
  codings: string[],
  body: ArrayBuffer,
  maxBytes: number,
): Promise<string> {
  if (codings.length === 0) return Buffer.from(body).toString('utf8');
  try {
    return (await gunzipAsync(Buffer.from(body), { maxOutputLength: maxBytes })).toString('utf8');
  } catch (error) {
    if (error instanceof RangeError)
      throw new PayloadTooLargeError(`The body is larger than ${maxBytes} bytes once decompressed.`);
    throw new MalformedRequestError('The body is not valid gzip.', 'MALFORMED_REQUEST');
  }
}
