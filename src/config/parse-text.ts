import { LineCounter, parseDocument } from "yaml";
import { ConfigError } from "../errors.js";

/**
 * Parses config text into plain data: YAML (which includes JSON), or strict JSON for a
 * `.json` file. A syntax error becomes one ConfigError line naming the file, line and column.
 */
export function parseText(raw: string, file: string): unknown {
  // Editors on Windows save a byte-order mark; JSON.parse rejects it.
  const text = raw.replace(/^\uFEFF/, "");
  if (file.toLowerCase().endsWith(".json")) return parseJson(text, file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  const error = doc.errors[0];
  if (error !== undefined) {
    // Only the first: later YAML errors are usually echoes of it.
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new ConfigError(
      `${file}: YAML syntax error at line ${line}, column ${col}: ${oneLine(error.message)}`,
    );
  }
  try {
    return doc.toJS();
  } catch (err) {
    throw new ConfigError(`${file}: ${oneLine(err instanceof Error ? err.message : String(err))}`, {
      cause: err,
    });
  }
}

// JSON.parse reports an offset (newer V8 also a line); operators need a line and column.
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = oneLine(err instanceof Error ? err.message : String(err));
    const match = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(message);
    if (match === null) {
      // e.g. `Unexpected token 'a', "abc" is not valid JSON`: the quoted excerpt adds nothing.
      const reason = message.replace(/, ".*" is not valid JSON$/, "");
      const where =
        reason === "Unexpected end of JSON input" ? ` at ${lineAndColumn(text, text.length)}` : "";
      throw new ConfigError(`${file}: JSON syntax error${where}: ${reason}`, { cause: err });
    }
    const where = lineAndColumn(text, Number(match[1]));
    throw new ConfigError(`${file}: JSON syntax error at ${where}: ${message.slice(0, match.index)}`, {
      cause: err,
    });
  }
}

function lineAndColumn(text: string, offset: number): string {
  const lines = text.slice(0, offset).split("\n");
  return `line ${lines.length}, column ${lines.at(-1)!.length + 1}`;
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ");
}
