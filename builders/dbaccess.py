"""The SQL that gives the app its two database roles (README "Database access"), run by the stack itself.

The database stack's custom resource runs these statements through the RDS
Data API as the master user, on every Create and Update; the master user is
for administration only and never reaches a task. Each statement is safe to
run again on a database it has already set up (IF NOT EXISTS, ALTER, GRANT
and REVOKE are idempotent), because the Data API runs each one in its own
transaction: a run cut short is finished by the next one.

- `app_user` is the API's own role: it owns the app schema (pgvector memory
  and embeddings) and the analytics schemas (the app loads them), so its
  tables never belong to the master user.
- `readonly_user` runs SQL written by a language model: USAGE and SELECT on
  the analytics schemas and nothing else, CREATE nowhere (not even TEMP
  tables), read-only transactions by default, and timeouts that end a
  runaway query or an abandoned transaction. The session defaults can be
  SET by a session; what stops a write is the missing privilege, which no
  SET changes.

Both log in with IAM database authentication (`rds_iam`), so no password
exists for them, and none rotates under a running task.
"""

from __future__ import annotations

from builders.config import EnvConfig

EXTENSION = "CREATE EXTENSION IF NOT EXISTS vector"
IAM_AUTH_ROLE = "rds_iam"  # Aurora's role whose members log in with IAM tokens instead of passwords


def _q(identifier: str) -> str:
    """A quoted identifier; params allow only [a-z0-9_] names, so this never needs escaping, but is exact."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _login_role(role: str, connection_limit: int) -> list[str]:
    """A role that logs in only with IAM tokens, with none of the powers a careless default would give it."""
    return [
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = "
        f"{_literal(role)}) THEN CREATE ROLE {_q(role)}; END IF; END $$",
        f"ALTER ROLE {_q(role)} LOGIN NOCREATEDB NOCREATEROLE INHERIT CONNECTION LIMIT {connection_limit}",
        f"GRANT {IAM_AUTH_ROLE} TO {_q(role)}",
    ]


def _act_as(role: str) -> str:
    """PostgreSQL 16 gives a CREATEROLE user (Aurora's master is one, not a superuser) only ADMIN OPTION on the
    roles it creates; granting on the role's schemas and setting its default privileges needs its privileges."""
    return f"GRANT {_q(role)} TO CURRENT_USER WITH INHERIT TRUE, SET TRUE"


def statements(cfg: EnvConfig) -> list[str]:
    """The roles, their settings and their grants, in the order they must run."""
    db = cfg.database
    access = db.access
    app, reader, database = access.app_user, access.readonly_user, db.database_name
    analytics = ", ".join(_q(s) for s in access.analytics_schemas)
    sql = [
        *_login_role(app, access.app_connection_limit),
        *_login_role(reader, access.readonly_connection_limit),
        _act_as(app),
        # PostgreSQL grants CONNECT and TEMP on a database, and (before 15) CREATE on public, to everyone.
        f"REVOKE ALL ON DATABASE {_q(database)} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {_q(database)} TO {_q(app)}, {_q(reader)}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        # Whatever else someone granted the LLM's role by hand goes on every run: it converges, not only adds.
        f"REVOKE ALL ON DATABASE {_q(database)} FROM {_q(reader)}",
        f"GRANT CONNECT ON DATABASE {_q(database)} TO {_q(reader)}",
        f"REVOKE ALL ON SCHEMA public FROM {_q(reader)}",
    ]
    for schema in (access.app_schema, *access.analytics_schemas):
        sql += [
            f"CREATE SCHEMA IF NOT EXISTS {_q(schema)} AUTHORIZATION {_q(app)}",
            f"ALTER SCHEMA {_q(schema)} OWNER TO {_q(app)}",
            f"REVOKE ALL ON SCHEMA {_q(schema)} FROM PUBLIC, {_q(reader)}",
        ]
    for schema in access.analytics_schemas:
        sql += [
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {_q(schema)} FROM {_q(reader)}",
            f"GRANT USAGE ON SCHEMA {_q(schema)} TO {_q(reader)}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {_q(schema)} TO {_q(reader)}",
            # Tables the app creates later are readable too, and nothing more.
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {_q(app)} IN SCHEMA {_q(schema)} "
            f"GRANT SELECT ON TABLES TO {_q(reader)}",
        ]
    sql += [
        f"ALTER ROLE {_q(reader)} SET default_transaction_read_only = on",
        f"ALTER ROLE {_q(reader)} SET statement_timeout = {_literal(f'{access.statement_timeout_seconds}s')}",
        "ALTER ROLE {} SET idle_in_transaction_session_timeout = {}".format(
            _q(reader), _literal(f"{access.idle_in_transaction_timeout_seconds}s")
        ),
        # public holds pgvector's types and operators (and nothing anyone but the master may create).
        f"ALTER ROLE {_q(reader)} SET search_path = {analytics}, public",
        f"ALTER ROLE {_q(app)} SET search_path = {_q(access.app_schema)}, public",
    ]
    return sql
