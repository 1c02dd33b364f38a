/**
 * Bundles the compiled CLI (`dist/src`) into `dist/bin` with esbuild: `prs-backup.js`, the
 * lean `wal-main.js` that PostgreSQL runs per WAL segment, and the worker threads' scripts,
 * all in one folder (a worker is found next to the code that starts it, see worker-url.ts).
 *
 * Why: Node 20 has no compile cache, and loading some 400 modules one by one (zod alone is
 * 228) took 110–120 ms of every command, `wal push` included. Split bundles load what a
 * command needs in a few files: `--version` 0.12 s instead of 0.17 s, a files re-snapshot of
 * the bench tree 60–80 ms sooner. Commands' own modules stay behind dynamic imports, so each
 * loads only its part.
 */
import { build } from "esbuild";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const compiled = (file: string): string => path.join(root, "dist/src", file);

const outdir = path.join(root, "dist/bin");
// Chunk names change with their content: old ones would pile up.
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    "prs-backup": compiled("cli/main.js"),
    "wal-main": compiled("engines/postgres-physical/wal-main.js"),
    "store-worker": compiled("repo/store-worker.js"),
    "decode-worker": compiled("repo/decode-worker.js"),
    "write-worker": compiled("engines/files/write-worker.js"),
  },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Native addons, and pg's optional native binding, load from node_modules as they are.
  external: ["zstd-napi", "pg-native"],
  // Dependencies written as CommonJS call require() for Node's own modules.
  banner: {
    js: 'import { createRequire as prsCreateRequire } from "node:module"; const require = prsCreateRequire(import.meta.url);',
  },
  logLevel: "warning",
});
