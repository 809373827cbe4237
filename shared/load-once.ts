/**
 * Memoizes an asynchronous load, typically a dynamic `import()` and what is built from it: the
 * first call starts it, later calls share it. A failed load is forgotten, so the next call tries
 * again. Lambdas load optional AWS clients this way on first use instead of at cold start.
 */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}
