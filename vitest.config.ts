import os from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    reporters: ["default", "./test/summary-reporter.ts"],
    // The CLIs the tests start keep their cache (the saved chunk table) here, not in the
    // home directory of whoever runs the tests.
    env: { XDG_CACHE_HOME: path.join(os.tmpdir(), "prs-backup-test-cache") },
  },
});
