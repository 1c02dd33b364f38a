#!/usr/bin/env node
import { releaseAllLocks } from "../repo/lock.js";
import { runCli } from "./program.js";

// Interrupted by a person or a service manager: give the repository back before going.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nerror: interrupted by ${signal}\n`);
    void releaseAllLocks().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  tty: process.stderr.isTTY ? process.stderr : undefined,
});
process.exitCode = code;
