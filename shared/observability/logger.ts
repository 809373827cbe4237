import { type DestinationStream, type Logger, pino } from 'pino';
import { mapStackTrace } from './source-mapped-stack.js';

export type { Logger };

/**
 * Structured JSON logs, one object per line, on stdout (CloudWatch on Lambda). Request logs are
 * children carrying `request_id` and `tenant_id`.
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  /** Where lines go instead of stdout (tests that read them). */
  destination?: DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'tollgate', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: {
      // Bundled (Lambda) traces point into minified files: their frames are mapped to the sources.
      err: (error: Error) => {
        const serialized = pino.stdSerializers.err(error);
        if (typeof serialized?.stack === 'string') serialized.stack = mapStackTrace(serialized.stack);
        return serialized;
      },
    },
    // Keys and provider credentials must never reach a log line, whatever object is logged.
    redact: {
      paths: [
        'authorization',
        '*.authorization',
        'api_key',
        '*.api_key',
        'key',
        '*.key',
        // Provider admin keys travel in `x-api-key` (Anthropic); headers objects nest one level deeper.
        '["x-api-key"]',
        '*["x-api-key"]',
        '*.headers.authorization',
        '*.headers["x-api-key"]',
        'credential',
        '*.credential',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
