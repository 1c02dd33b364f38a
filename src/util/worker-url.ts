/**
 * The URL of a worker thread's script next to the module at `moduleUrl`. Under vitest that
 * module is the TypeScript source, which a worker thread cannot load: its worker then runs
 * from the build (`npm test` builds first).
 */
export function workerScriptUrl(moduleUrl: string, script: string): URL {
  const url = new URL(script, moduleUrl);
  if (!moduleUrl.endsWith(".ts")) return url;
  const at = url.href.lastIndexOf("/src/");
  return new URL(`${url.href.slice(0, at)}/dist${url.href.slice(at)}`);
}
