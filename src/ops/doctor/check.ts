/** One preflight check: ✓ or ✗, what was found, and on ✗ the lines that fix it. */
export interface Check {
  /** A target name, "repository" or "system". */
  scope: string;
  name: string;
  ok: boolean;
  message: string;
  /** Commands or config changes that fix a ✗, one per line. */
  fix?: string[];
}

export const pass = (scope: string, name: string, message: string): Check => ({
  scope,
  name,
  ok: true,
  message,
});

export const fail = (scope: string, name: string, message: string, fix: string[]): Check => ({
  scope,
  name,
  ok: false,
  message,
  fix,
});
