import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

export interface EmbeddedDynamo {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * dynalite (DynamoDB's wire protocol on LevelDB, pure Node) on a free loopback port, its data
 * kept under `path` (in memory without one). Closing it flushes LevelDB, so a clean shutdown loses nothing.
 */
export async function startEmbeddedDynamo(
  path?: string,
  /** Sees every request (benches count them by operation). */
  onRequest?: (request: IncomingMessage) => void,
): Promise<EmbeddedDynamo> {
  const server: Server = dynalite({
    ...(path ? { path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  if (onRequest) server.on('request', onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
