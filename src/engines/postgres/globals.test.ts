import { describe, expect, it } from "vitest";
import { parseGlobals, planRoles } from "./globals.js";

const DUMP = String.raw`--
-- PostgreSQL database cluster dump
--

\restrict abc123

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
CREATE ROLE prs_app;
ALTER ROLE prs_app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc';
CREATE ROLE "Report ""Team""";
ALTER ROLE "Report ""Team""" WITH NOLOGIN;
COMMENT ON ROLE prs_app IS 'the application';

--
-- User Configurations
--

ALTER ROLE prs_app SET search_path TO 'app', 'public';

--
-- Role memberships
--

GRANT "Report ""Team""" TO prs_app GRANTED BY postgres;
GRANT prs_app TO postgres GRANTED BY postgres;

CREATE TABLESPACE fast OWNER postgres LOCATION '/mnt/ssd/ts';

\unrestrict abc123
`;

describe("parseGlobals", () => {
  it("reads roles (quoted names too), their statements, memberships and tablespaces", () => {
    const g = parseGlobals(DUMP);
    expect(g.roles).toEqual(["postgres", "prs_app", 'Report "Team"']);
    expect(g.roleStatements.get("prs_app")).toHaveLength(3);
    expect(g.grants.map((x) => [x.role, x.member])).toEqual([
      ['Report "Team"', "prs_app"],
      ["prs_app", "postgres"],
    ]);
    expect(g.tablespaces).toEqual(["fast"]);
  });
});

describe("planRoles", () => {
  it("creates only missing roles, with their attributes, settings and memberships; leaves existing ones alone", () => {
    const plan = planRoles(parseGlobals(DUMP), new Set(["postgres"]));
    expect(plan.create).toEqual(["prs_app", 'Report "Team"']);
    expect(plan.existing).toEqual(["postgres"]);
    expect(plan.statements).toEqual([
      'CREATE ROLE "prs_app";',
      'CREATE ROLE "Report ""Team""";',
      "ALTER ROLE prs_app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:abc';",
      "COMMENT ON ROLE prs_app IS 'the application';",
      "ALTER ROLE prs_app SET search_path TO 'app', 'public';",
      'ALTER ROLE "Report ""Team""" WITH NOLOGIN;',
      'GRANT "Report ""Team""" TO prs_app GRANTED BY postgres;',
    ]);
    expect(plan.statements.join("\n")).not.toMatch(/ALTER ROLE postgres/);
  });

  it("does nothing when every role exists", () => {
    const plan = planRoles(parseGlobals(DUMP), new Set(["postgres", "prs_app", 'Report "Team"']));
    expect(plan).toEqual({ create: [], existing: ["postgres", "prs_app", 'Report "Team"'], statements: [] });
  });
});
