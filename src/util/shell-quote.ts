/** Quotes a word for /bin/sh (cron lines, archive_command, benchmark pipelines): plain words stay bare. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Quotes a word for PostgreSQL's archive_command / restore_command: the server expands
 * `%p`, `%f` and `%%` before the shell sees the line, so a literal `%` (a repository at
 * /srv/100%) must be written `%%` or it would be replaced or dropped.
 */
export function postgresCommandWord(word: string): string {
  return shellQuote(word).replaceAll("%", "%%");
}
