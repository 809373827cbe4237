/**
 * Lambda behind API Gateway buffers a whole response, and refuses (the caller gets a bare 502)
 * one whose payload passes 6 MB. A streamed body read whole here first can be refused with a
 * problem instead, before any of it is sent.
 */

/** Lambda's cap on a buffered (RequestResponse) invocation's payload. */
export const LAMBDA_RESPONSE_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * What the payload keeps for the response's status, headers and JSON framing, beside the body;
 * far more than any answer of ours carries.
 */
const FRAMING_ALLOWANCE_BYTES = 16 * 1024;

/**
 * Reads `body` whole, measuring it as the Lambda adapter (hono/aws-lambda) will send it: a text
 * body as a JSON string (escaped), any other as base64 (`isBinary`). Answers the bytes, or
 * undefined as soon as that payload would pass `payloadLimitBytes` (the stream is cancelled then,
 * so the reads behind it stop).
 */
export async function readWithinPayload(
  body: ReadableStream<Uint8Array>,
  options: { payloadLimitBytes: number; isBinary: boolean },
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const limit = options.payloadLimitBytes - FRAMING_ALLOWANCE_BYTES;
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const chunks: Uint8Array[] = [];
  let rawBytes = 0;
  let escapedBytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    rawBytes += value.byteLength;
    if (!options.isBinary) {
      // JSON.stringify escapes quotes, backslashes and control characters and keeps the rest as
      // UTF-8, as the runtime does when it serialises the response; minus the two quotes.
      escapedBytes += Buffer.byteLength(JSON.stringify(decoder.decode(value, { stream: true }))) - 2;
    }
    const payloadBytes = options.isBinary ? Math.ceil(rawBytes / 3) * 4 : escapedBytes;
    if (payloadBytes > limit) {
      await reader.cancel();
      return undefined;
    }
  }
  return Buffer.concat(chunks);
}
