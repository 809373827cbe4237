import { type DynamoDBDocumentClient, DynamoDBDocumentClientCommand } from '@aws-sdk/lib-dynamodb';

/** A command's resolved middleware chain: serialise, sign, send, parse, (un)marshall. */
type Handler = (command: unknown) => Promise<{ output: unknown }>;

/**
 * What a lib-dynamodb command carries beyond its public type (the members are `protected`
 * there): the low-level command it wraps, and the step that adds the document (un)marshalling
 * to that command's middleware.
 */
interface DocumentCommandInternals {
  clientCommand: {
    middlewareStack: DynamoDBDocumentClient['middlewareStack'];
    resolveMiddleware(
      stack: DynamoDBDocumentClient['middlewareStack'],
      configuration: DynamoDBDocumentClient['config'],
      options: undefined,
    ): Handler;
  };
  addMarshallingMiddleware(configuration: DynamoDBDocumentClient['config']): void;
}

/**
 * Makes a document client build each command class's middleware chain once, instead of on every
 * request.
 *
 * Why: the SDK clones its middleware stack and sorts it into a new chain for every `send`. That
 * is about a quarter of all the memory a request allocates, and was the largest share of what
 * survived into the old generation (sampled heap profiles under `npm run bench:enforce`). Under
 * load it drove a full garbage collection every few seconds, each stalling the process for
 * 20–60 ms: most of the enforcement endpoints' p99.
 *
 * The low-level client has this built in (`cacheMiddleware: true`), but lib-dynamodb refuses that
 * option (aws/aws-sdk-js-v3 PRs #7762 and #7801 are about lifting it): a document command's
 * resolved handler is bound to that one command's input. So this keeps the chain of the *inner*
 * command instead, built once per class through the first command's own marshalling step, and
 * runs each later command's inner command (its input) through it. That step reads only what is
 * the same for every command of a class (its key paths) and the client's translate options.
 *
 * Concurrent requests share the chain's context object, exactly as they do with the low-level
 * client's `cacheMiddleware`; what the middleware writes there (endpoint, auth scheme, feature
 * flags) is the same for every request of a client. Calls with per-request options or a callback
 * take the SDK's usual path, and a change to the client's middleware stack starts the chains
 * afresh.
 */
export function resolveHandlersOnce(client: DynamoDBDocumentClient): DynamoDBDocumentClient {
  const handlers = new Map<unknown, Handler>();
  const send = client.send.bind(client) as (
    command: unknown,
    options?: unknown,
    callback?: unknown,
  ) => unknown;
  const sendResolvedOnce = (command: unknown, options?: unknown, callback?: unknown) => {
    if (
      options !== undefined ||
      callback !== undefined ||
      !(command instanceof DynamoDBDocumentClientCommand)
    ) {
      return send(command, options, callback);
    }
    const internals = command as unknown as DocumentCommandInternals;
    let handler = handlers.get(command.constructor);
    if (!handler) {
      internals.addMarshallingMiddleware(client.config);
      handler = internals.clientCommand.resolveMiddleware(
        client.middlewareStack.concat(internals.clientCommand.middlewareStack),
        client.config,
        undefined,
      );
      handlers.set(command.constructor, handler);
    }
    return handler(internals.clientCommand).then((result) => result.output);
  };
  client.send = sendResolvedOnce as DynamoDBDocumentClient['send'];
  // A step added to or removed from the client's stack applies from the next request on, as it
  // would without the cache (tracing, or a test watching the requests).
  const stack = client.middlewareStack as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const change of ['add', 'addRelativeTo', 'use', 'remove', 'removeByTag']) {
    const original = stack[change]?.bind(stack);
    if (!original) continue;
    stack[change] = (...args: unknown[]) => {
      handlers.clear();
      return original(...args);
    };
  }
  return client;
}
