/**
 * dynalite in a process of its own, as DynamoDB is a service of its own: the benches that compare
 * Tollgate's requests with raw engine round trips fork it, so the engine's work is not billed to
 * the API server's event loop. It counts the requests it serves by operation, for the bench to
 * report store calls per API request.
 *
 * IPC protocol: sends `{ endpoint }` once listening; answers `'counts'` with `{ counts }`;
 * `'stop'` closes it (flushing LevelDB) and exits.
 */
import { startEmbeddedDynamo } from '../../local/embedded-dynamo.js';

const counts: Record<string, number> = {};
const engine = await startEmbeddedDynamo(process.env.TOLLGATE_BENCH_ENGINE_PATH || undefined, (request) => {
  const operation =
    String(request.headers['x-amz-target'] ?? 'unknown')
      .split('.')
      .at(-1) ?? 'unknown';
  counts[operation] = (counts[operation] ?? 0) + 1;
});
process.send?.({ endpoint: engine.endpoint });
process.on('message', (message) => {
  if (message === 'counts') process.send?.({ counts: { ...counts } });
  if (message === 'stop') void engine.close().then(() => process.exit(0));
});
process.on('disconnect', () => void engine.close().then(() => process.exit(0)));
