import { describe, expect, it } from 'vitest';
import { readWithinPayload } from '../../../shared/http/buffered-response.js';

/** A stream of `chunks` that records whether its reader cancelled it. */
function streamOf(chunks: string[]) {
  const state = { cancelled: false, pulled: 0 };
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[state.pulled++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(encoder.encode(chunk));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

// The allowance kept for status and headers.
const FRAMING = 16 * 1024;

describe('readWithinPayload', () => {
  it('answers the whole body when its payload fits', async () => {
    const { stream } = streamOf(['a,b\n', '"c",é\n']);
    const whole = await readWithinPayload(stream, { payloadLimitBytes: FRAMING + 100, isBinary: false });
    expect(Buffer.from(whole as Uint8Array).toString('utf8')).toBe('a,b\n"c",é\n');
  });

  it('counts a text body as the JSON string it is sent as: quotes and line breaks escaped', async () => {
    // 1,000 bytes, about 1,500 once escaped (each `"` and line break takes two).
    const line = `${'"x",'.repeat(100)}\n`.repeat(3).slice(0, 1000);
    const escaped = Buffer.byteLength(JSON.stringify(line)) - 2;
    expect(escaped).toBeGreaterThan(1400);
    const fits = await readWithinPayload(streamOf([line]).stream, {
      payloadLimitBytes: FRAMING + escaped,
      isBinary: false,
    });
    expect(fits?.byteLength).toBe(1000);
    const tooLarge = streamOf([line.slice(0, 500), line.slice(500), 'never read']);
    expect(
      await readWithinPayload(tooLarge.stream, { payloadLimitBytes: FRAMING + escaped - 1, isBinary: false }),
    ).toBeUndefined();
    expect(tooLarge.state.cancelled).toBe(true);
    expect(tooLarge.state.pulled).toBeLessThan(3);
  });

  it('counts a binary body as base64 (4 bytes per 3)', async () => {
    const body = 'y'.repeat(3000);
    expect(
      (
        await readWithinPayload(streamOf([body]).stream, {
          payloadLimitBytes: FRAMING + 4000,
          isBinary: true,
        })
      )?.byteLength,
    ).toBe(3000);
    expect(
      await readWithinPayload(streamOf([body]).stream, { payloadLimitBytes: FRAMING + 3999, isBinary: true }),
    ).toBeUndefined();
  });
});
