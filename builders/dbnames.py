"""Names Aurora PostgreSQL will not take for the master user, so the loader refuses them, not a deploy.

RDS answers CreateDBCluster with "MasterUsername ... cannot be used as it
is a reserved word used by the engine" for these; found at deploy time, that
is a stack rolled back after minutes. PostgreSQL reserves every role name
starting with `pg_`, RDS the `rds` ones (rdsadmin, rds_superuser, ...), and
a reserved SQL keyword cannot be a role name unquoted.
"""

from __future__ import annotations

# Words RDS for PostgreSQL refuses as the master user name (its own admin roles and common reserved words).
RDS_RESERVED: frozenset[str] = frozenset({"admin", "rdsadmin", "rdsrepladmin", "rdstopmgr", "rdsproxyadmin"})
# Refused by this project rather than by AWS: the engine's well-known superuser name, the first one any
# password-spraying tool tries against a PostgreSQL endpoint.
WELL_KNOWN: frozenset[str] = frozenset({"postgres", "root", "superuser", "administrator"})
# PostgreSQL 16's reserved key words (Appendix C, "reserved" in the PostgreSQL column).
SQL_RESERVED: frozenset[str] = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
    collation column concurrently constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user default deferrable desc distinct do else end except false fetch
    for foreign freeze from full grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some symmetric system_user
    table tablesample then to trailing true union unique user using variadic verbose when where window
    with public none""".split()
)


def reserved(name: str) -> str | None:
    """Why `name` cannot be the master user, or None if it can."""
    if name in RDS_RESERVED or name.startswith("rds_"):
        return f"{name!r} is reserved by RDS for its own administration (CreateDBCluster refuses it)"
    if name.startswith("pg_"):
        return f"{name!r} starts with pg_, which PostgreSQL reserves for its built-in roles"
    if name in SQL_RESERVED:
        return f"{name!r} is a reserved word of PostgreSQL, which a role name cannot be"
    if name in WELL_KNOWN:
        return f"{name!r} is the best-known superuser name, the first one attackers try; choose another"
    return None


# The app's own database users start with this, and the permissions boundary lets a role log in (rds-db:connect)
# only as such a user: a task can never be given a login as the master user or any other role of the cluster.
APP_USER_PREFIX = "nlsql_"
