import { quoteIdent } from "./connection.js";

const IDENT = String.raw`("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
const CREATE_ROLE = new RegExp(`^CREATE ROLE ${IDENT};$`);
const ALTER_ROLE = new RegExp(`^ALTER ROLE ${IDENT} .*;$`);
const COMMENT_ROLE = new RegExp(`^COMMENT ON ROLE ${IDENT} IS .*;$`);
const GRANT_ROLE = new RegExp(`^GRANT ${IDENT} TO ${IDENT}(?: .*)?;$`);
const CREATE_TABLESPACE = new RegExp(`^CREATE TABLESPACE ${IDENT} `);

/** Roles, memberships and tablespaces as `pg_dumpall --globals-only` wrote them. */
export interface Globals {
  roles: string[];
  /** Per role: its ALTER ROLE (attributes, password hash, settings) and COMMENT lines. */
  roleStatements: Map<string, string[]>;
  /** Memberships: role granted, member, and the statement. */
  grants: { role: string; member: string; sql: string }[];
  tablespaces: string[];
}

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident;
}

/**
 * Reads the statements this restore needs from a globals dump, line by line (pg_dumpall
 * writes one statement per line); psql meta-commands such as `\restrict` are ignored.
 */
export function parseGlobals(sql: string): Globals {
  const globals: Globals = { roles: [], roleStatements: new Map(), grants: [], tablespaces: [] };
  for (const line of sql.split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = CREATE_ROLE.exec(line))) {
      const role = unquote(m[1]!);
      globals.roles.push(role);
      globals.roleStatements.set(role, []);
    } else if ((m = ALTER_ROLE.exec(line) ?? COMMENT_ROLE.exec(line))) {
      globals.roleStatements.get(unquote(m[1]!))?.push(line);
    } else if ((m = GRANT_ROLE.exec(line))) {
      globals.grants.push({ role: unquote(m[1]!), member: unquote(m[2]!), sql: line });
    } else if ((m = CREATE_TABLESPACE.exec(line))) {
      globals.tablespaces.push(unquote(m[1]!));
    }
  }
  return globals;
}

/** Which roles a restore creates, which it leaves alone, and the SQL that creates them. */
export interface RolePlan {
  create: string[];
  existing: string[];
  /** One statement per element; run in one transaction. Holds password hashes: never log it. */
  statements: string[];
}

/**
 * Plans the roles: missing ones are created with their attributes, settings and
 * memberships; existing ones are left exactly as they are (and reported).
 */
export function planRoles(globals: Globals, existingRoles: ReadonlySet<string>): RolePlan {
  const create = globals.roles.filter((r) => !existingRoles.has(r));
  const existing = globals.roles.filter((r) => existingRoles.has(r));
  const created = new Set(create);
  const statements = [
    ...create.map((r) => `CREATE ROLE ${quoteIdent(r)};`),
    ...create.flatMap((r) => globals.roleStatements.get(r) ?? []),
    ...globals.grants.filter((g) => created.has(g.member)).map((g) => g.sql),
  ];
  return { create, existing, statements };
}
