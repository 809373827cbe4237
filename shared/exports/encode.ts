import { stringify } from 'csv-stringify/sync';

export const EXPORT_FORMATS = ['csv', 'jsonl'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

type Cell = string | number | boolean | null;

const NUMBER_TEXT = /^-?\d+(\.\d+)?(e-?\d+)?$/i;
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A cell as CSV should carry it. Dimension values come from tenant apps, and a spreadsheet runs
 * a cell that starts like a formula (`=HYPERLINK(…)`): such text gets a leading apostrophe
 * (OWASP's advice), numbers written as text (`-0.5`) stay as they are. csv-stringify writes
 * booleans as "1" and ""; FOCUS readers expect true/false.
 */
export function csvCell(value: Cell): string | number | null {
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string' && FORMULA_START.test(value) && !NUMBER_TEXT.test(value)) return `'${value}`;
  return value;
}

/** CSV text of some rows (and the header first, when asked), columns in the given order. */
export function csvLines<C extends string>(
  columns: readonly C[],
  rows: Record<C, Cell>[],
  withHeader: boolean,
): string {
  const records = rows.map((row) => columns.map((column) => csvCell(row[column])));
  return stringify(withHeader ? [[...columns], ...records] : records);
}

/** JSON Lines of some rows: one object per line, keys in the given column order. */
export function jsonLines<C extends string>(columns: readonly C[], rows: Record<C, Cell>[]): string {
  let text = '';
  for (const row of rows) {
    text += `${JSON.stringify(Object.fromEntries(columns.map((column) => [column, row[column]])))}\n`;
  }
  return text;
}

/**
 * A byte stream of the rows in `format`, produced as the reader pulls: a page is read only when
 * the reader wants more, so the reader's pace bounds memory. A failure part-way errors the stream
 * (the response is cut short, never passed off as complete) after `onError` has seen it.
 */
export function encodeRowStream<C extends string>(
  columns: readonly C[],
  pages: AsyncIterable<Record<C, Cell>[]>,
  format: ExportFormat,
  onError: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const iterator = pages[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // The header goes out at once: a client sees the export has begun before the first read.
      if (format === 'csv') controller.enqueue(encoder.encode(csvLines(columns, [], true)));
    },
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) {
          controller.close();
          return;
        }
        const text = format === 'csv' ? csvLines(columns, next.value, false) : jsonLines(columns, next.value);
        controller.enqueue(encoder.encode(text));
      } catch (error) {
        onError(error);
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
