import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandFailedError, runChecked, runCommand, spawnStreaming } from "./subprocess.js";

let bin: string;
beforeAll(async () => {
  bin = await fs.mkdtemp(path.join(os.tmpdir(), "prs-subprocess-"));
  const tool = async (name: string, body: string) => {
    await fs.writeFile(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };
  await tool("fails", 'echo "first line" >&2; echo "fatal: could not connect to secret-pw" >&2; exit 3');
  await tool("hangs", "trap '' TERM; exec sleep 30");
  await tool("env-echo", 'printf "%s" "$PGPASSWORD"');
  await tool("cat-stdin", "cat");
});
afterAll(async () => {
  await fs.rm(bin, { recursive: true, force: true });
});

describe("subprocess", () => {
  it("reports a failing tool with its last stderr line, redacted", async () => {
    const err = await runChecked([path.join(bin, "fails"), "--password-is", "secret-pw"], "E_TEST", {
      redact: ["secret-pw"],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandFailedError);
    const failure = err as CommandFailedError;
    expect(failure.message).toBe("fails failed (exit 3: fatal: could not connect to ***)");
    expect(failure.result.command).not.toContain("secret-pw");
    expect(failure.code).toBe("E_TEST");
  });

  it("passes secrets through the environment, not argv", async () => {
    const r = await runCommand([path.join(bin, "env-echo")], { env: { PGPASSWORD: "s3cret" } });
    expect(r.stdout).toBe("s3cret");
    expect(r.command).not.toContain("s3cret");
  });

  it("kills a tool that ignores SIGTERM after the timeout and grace period", async () => {
    const r = await runCommand([path.join(bin, "hangs")], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe("SIGKILL");
  }, 20_000);

  it("names a missing tool", async () => {
    await expect(runCommand(["/nonexistent/pg_dump"])).rejects.toThrow(/pg_dump not found/);
  });

  it("streams stdout and feeds stdin", async () => {
    const { stdout, done } = await spawnStreaming([path.join(bin, "cat-stdin")], { input: "hello stream" });
    expect(await text(stdout)).toBe("hello stream");
    expect((await done).exitCode).toBe(0);
  });
});
