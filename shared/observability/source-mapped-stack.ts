import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Maps the frames of a bundled (Lambda) stack trace to the TypeScript they came from, using the
 * `.map` file shipped beside each bundle file. Node's `--enable-source-maps` does the same for
 * every trace but parses the maps at every cold start (about 30 ms for the API's bundle); this
 * reads a map only when an error is logged, once per file. Frames without a map are left as they are.
 */
export function mapStackTrace(stack: string): string {
  return stack.replace(BUNDLE_FRAME, (frame, url: string, line: string, column: string) => {
    const map = sourceMapOf(url);
    if (!map) return frame;
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1) as Partial<OriginalPosition>;
    if (!entry.originalSource || entry.originalLine === undefined || entry.originalColumn === undefined)
      return frame;
    return `${sourcePath(entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

interface OriginalPosition {
  originalSource: string;
  originalLine: number;
  originalColumn: number;
}

/** `file:///var/task/index.mjs:1:2345` as V8 prints an ES module's frame. */
const BUNDLE_FRAME = /(file:\/\/\/[^\s():]+\.mjs):(\d+):(\d+)/g;

const maps = new Map<string, SourceMap | undefined>();

function sourceMapOf(url: string): SourceMap | undefined {
  if (!maps.has(url)) {
    let map: SourceMap | undefined;
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')));
    } catch {
      map = undefined; // no map beside this file: its frames stay as printed
    }
    maps.set(url, map);
  }
  return maps.get(url);
}

/** esbuild names sources relative to the map (`../../shared/x.ts`): the repository path reads better. */
function sourcePath(source: string): string {
  return source.replace(/^(?:\.\.\/)+/, '');
}
