import { text } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { spawnStreaming } from "./subprocess.js";
import { withLargeStdioBuffer } from "./stdio-buffer.js";

describe("withLargeStdioBuffer", () => {
  // stdbuf is part of coreutils, on every Debian machine.
  it("runs a stdio tool behind stdbuf with a 1 MiB buffer on the named stream", () => {
    expect(withLargeStdioBuffer(["awk", "-f", "x"], "stdout")).toEqual(["stdbuf", "-o1M", "awk", "-f", "x"]);
    expect(withLargeStdioBuffer(["/usr/bin/awk", "-f", "x"], "stdin")).toEqual([
      "stdbuf",
      "-i1M",
      "/usr/bin/awk",
      "-f",
      "x",
    ]);
  });

  it("leaves a missing program unwrapped, so that it fails as not found", async () => {
    expect(withLargeStdioBuffer(["/nonexistent/pg_dump", "-Fc"], "stdout")).toEqual([
      "/nonexistent/pg_dump",
      "-Fc",
    ]);
    expect(withLargeStdioBuffer(["no-such-tool-here", "-l"], "stdin")).toEqual(["no-such-tool-here", "-l"]);
    await expect(
      spawnStreaming(withLargeStdioBuffer(["/nonexistent/pg_dump"], "stdout")).then((c) => c.done),
    ).rejects.toThrow(/pg_dump not found/);
  });

  it("passes every byte through in both directions", async () => {
    // awk writes through stdio, as pg_dump does; 3 MB is three times the buffer.
    const program = 'BEGIN { for (i = 0; i < 300000; i++) printf "%09d\\n", i }';
    const { stdout, done } = await spawnStreaming(withLargeStdioBuffer(["awk", program], "stdout"));
    const out = await text(stdout);
    expect((await done).exitCode).toBe(0);
    expect(out.length).toBe(3_000_000);
    expect(out.slice(-20)).toBe("000299998\n000299999\n");

    const input = out;
    const fed = await spawnStreaming(
      withLargeStdioBuffer(["awk", "{ n += $1 } END { print NR, n }"], "stdin"),
      {
        input,
      },
    );
    expect((await text(fed.stdout)).trim()).toBe(`300000 ${(299999 * 300000) / 2}`);
  });
});
