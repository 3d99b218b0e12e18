"""The database's set-up SQL against a real PostgreSQL 16 with pgvector (pgserver, from PyPI), run by the custom
resources' own handler through a stand-in for the RDS Data API.

The statements are read from the committed templates, so what is tested is what a deploy runs. PostgreSQL is
made to look like Aurora where that matters: the master user is not a superuser but a CREATEROLE, CREATEDB role
that may grant `rds_iam` (as Aurora's rds_superuser may), and it owns the app's database (as RDS makes it).
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pgserver
import psycopg
import pytest
from botocore.exceptions import ClientError

from builders import dbaccess, params
from builders.errors import ConfigError
from builders.functions import pgvector
from tests.conftest import PARAMS, LambdaContext, props, template

CFG = params.load(PARAMS / "dev.yaml")
MASTER = CFG.database.master_username
ACCESS = CFG.database.access
DATABASE = CFG.database.database_name


class Postgres:
    """A PostgreSQL server for the module, set up as Aurora is, and reset to that before each test (roles belong
    to a server, not to a database, so a fresh database alone would keep the last test's roles)."""

    KEPT = ("postgres", "rds_iam", MASTER)

    def __init__(self, server: Any) -> None:
        self.server = server
        self.uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>

    def connect(self, user: str = "postgres", database: str = "postgres", **kwargs: Any) -> Any:
        host = self.uri.split("host=", 1)[1]
        return psycopg.connect(host=host, user=user, dbname=database, **{"autocommit": True, **kwargs})

    def run(self, sql: str, user: str = "postgres", database: str = "postgres") -> list[tuple[Any, ...]]:
        with self.connect(user, database) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def reset(self) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            made = conn.execute("SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'").fetchall()
            for (role,) in made:
                if role not in self.KEPT:
                    conn.execute(f'DROP ROLE "{role}"')
            if (MASTER,) not in made:
                conn.execute("CREATE ROLE rds_iam")  # Aurora's: its members log in with IAM tokens only
                conn.execute(f'CREATE ROLE "{MASTER}" LOGIN CREATEDB CREATEROLE')
            conn.execute(f'GRANT rds_iam TO "{MASTER}" WITH ADMIN OPTION')
            conn.execute(f'CREATE DATABASE "{DATABASE}" OWNER "{MASTER}"')  # as RDS makes DatabaseName


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    # A short path of its own: the server's Unix socket lives in it (108 bytes at most), and pgserver, run as
    # root, hands it to an unprivileged user (PostgreSQL refuses to run as root).
    folder = tempfile.mkdtemp(prefix="pg-")
    server = pgserver.get_server(folder, cleanup_mode="delete")
    try:
        yield Postgres(server)
    finally:
        server.cleanup()


@pytest.fixture
def postgres(server: Postgres) -> Postgres:
    server.reset()
    return server


class DataApi:
    """The RDS Data API over a real PostgreSQL: each ExecuteStatement without a transactionId runs on its own
    connection in its own transaction, as the secret's user (the master), and a PostgreSQL error comes back as a
    BadRequestException carrying PostgreSQL's message, as the Data API answers.

    CREATE EXTENSION runs as PostgreSQL's superuser: Aurora's rds_superuser may create the extensions Aurora
    allows (pgvector among them), where plain PostgreSQL reserves untrusted extensions to superusers.
    Cannot show: the Data API's own limits (45 s per call, 1 MiB answers), a paused cluster resuming, a wrong
    secret or cluster ARN (AccessDenied, NotFound).
    """

    def __init__(self, pg: Postgres, database: str) -> None:
        self.pg, self.database, self.calls = pg, database, []

    def execute_statement(self, *, resourceArn: str, secretArn: str, database: str, sql: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        assert database == CFG.database.database_name, "the statements run in the app's database"
        self.calls.append(sql)
        user = "postgres" if sql.startswith("CREATE EXTENSION") else MASTER
        try:
            self.pg.run(sql, user, self.database)
        except psycopg.Error as exc:
            raise ClientError(
                {"Error": {"Code": "BadRequestException", "Message": str(exc)}}, "ExecuteStatement"
            ) from exc
        return {"numberOfRecordsUpdated": 0}


def _resources(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The set-up custom resources' properties in the order CloudFormation creates them (DependsOn)."""
    resources = doc["Resources"]
    by_id = {k: v for k, v in resources.items() if v["Type"] in {"Custom::PgVector", "Custom::DatabaseRoles"}}
    ordered = sorted(by_id, key=lambda k: [d for d in resources[k].get("DependsOn", []) if d in by_id] != [])
    return [props(by_id[k]) for k in ordered]


def _deploy(pg: Postgres, database: str, url: str, doc: dict[str, Any], kind: str = "Create") -> list[str]:
    """Send each set-up resource's request to the handler, as CloudFormation would; the answers' statuses."""
    api = DataApi(pg, database)
    statuses = []
    for properties in _resources(doc):
        sent = {
            **copy.deepcopy(properties),
            "ServiceToken": "arn:aws:lambda:x",
            "ClusterArn": "arn:c",
            "SecretArn": "s",
        }
        event = {
            "RequestType": kind,
            "ResponseURL": url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/nlsql-dev-Database/1",
            "RequestId": f"req-{kind}",
            "LogicalResourceId": "x",
            "ResourceProperties": sent,
            **({"PhysicalResourceId": "x", "OldResourceProperties": sent} if kind == "Update" else {}),
        }
        statuses.append(pgvector.handler(event, LambdaContext(120), api))
    return statuses


@pytest.fixture
def database(postgres: Postgres) -> str:
    return DATABASE


def _with_access(**changes: Any) -> dict[str, Any]:
    """The dev database template, its roles' statements made from dev's params with `changes` to the access."""
    cfg = CFG.model_copy(
        update={"database": CFG.database.model_copy(update={"access": ACCESS.model_copy(update=changes)})}
    )
    doc = copy.deepcopy(template("dev", "database"))
    doc["Resources"]["DatabaseRoles"]["Properties"]["Statements"] = dbaccess.statements(cfg)
    return doc


SNAPSHOT = {
    "roles": "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolinherit, rolconnlimit, "
    "rolbypassrls FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1",
    "members": "SELECT r.rolname, m.rolname, admin_option, inherit_option, set_option FROM pg_auth_members a "
    "JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member ORDER BY 1, 2",
    "settings": "SELECT r.rolname, setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1",
    "schemas": "SELECT nspname, pg_get_userbyid(nspowner), nspacl::text FROM pg_namespace ORDER BY 1",
    "database": "SELECT datacl::text FROM pg_database WHERE datname = current_database()",
    "defaults": "SELECT pg_get_userbyid(defaclrole), defaclnamespace::regnamespace::text, defaclacl::text "
    "FROM pg_default_acl ORDER BY 1, 2",
    "extensions": "SELECT extname, extversion FROM pg_extension ORDER BY 1",
}


def _snapshot(pg: Postgres, database: str) -> dict[str, list[tuple[Any, ...]]]:
    return {key: pg.run(sql, database=database) for key, sql in SNAPSHOT.items()}


def test_the_template_installs_pgvector_and_makes_both_roles_as_aurora_s_master_user(
    postgres, database, response_url
) -> None:
    url, received = response_url
    assert _deploy(postgres, database, url, template("dev", "database")) == ["SUCCESS", "SUCCESS"]
    assert postgres.run("SELECT extname FROM pg_extension WHERE extname = 'vector'", database=database) == [("vector",)]
    roles = {r[0]: r[1:] for r in postgres.run(SNAPSHOT["roles"])}
    # (superuser, createdb, createrole, login, inherit, connection limit, bypass RLS)
    assert roles[ACCESS.app_user] == (False, False, False, True, True, ACCESS.app_connection_limit, False)
    assert roles[ACCESS.readonly_user] == (False, False, False, True, True, ACCESS.readonly_connection_limit, False)
    members = {(r, m) for r, m, *_ in postgres.run(SNAPSHOT["members"])}
    assert {("rds_iam", ACCESS.app_user), ("rds_iam", ACCESS.readonly_user)} <= members, "IAM logins, no password"
    owners = dict(postgres.run("SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace", database=database))
    assert owners[ACCESS.app_schema] == ACCESS.app_user
    assert all(owners[s] == ACCESS.app_user for s in ACCESS.analytics_schemas)
    settings = dict(postgres.run(SNAPSHOT["settings"]))[ACCESS.readonly_user]
    assert "default_transaction_read_only=on" in settings
    assert f"statement_timeout={ACCESS.statement_timeout_seconds}s" in settings
    assert f"idle_in_transaction_session_timeout={ACCESS.idle_in_transaction_timeout_seconds}s" in settings
    assert all(a["Status"] == "SUCCESS" for a in received)


def test_the_read_only_role_reads_the_analytics_schemas_and_can_change_nothing(
    postgres, database, response_url
) -> None:
    url, _ = response_url
    _deploy(postgres, database, url, template("dev", "database"))
    analytics = ACCESS.analytics_schemas[0]
    with postgres.connect(ACCESS.app_user, database) as app:  # tables the app makes after set-up
        app.execute(f"CREATE TABLE {analytics}.sales (id int, amount numeric, embedding vector(3))")
        app.execute(f"INSERT INTO {analytics}.sales VALUES (1, 9.5, '[1,2,3]'), (2, 3.0, '[3,2,1]')")
        app.execute(f"CREATE TABLE {ACCESS.app_schema}.memory (id int, turn text, embedding vector(3))")
        app.execute(f"INSERT INTO {ACCESS.app_schema}.memory VALUES (1, 'what did we sell?', '[1,1,1]')")
    with postgres.connect(ACCESS.readonly_user, database) as reader:
        assert reader.execute("SELECT sum(amount) FROM sales").fetchone() == (12.5,), "search_path: analytics"
        nearest = reader.execute("SELECT id FROM sales ORDER BY embedding <-> '[1,2,3]' LIMIT 1").fetchone()
        assert nearest == (1,), "pgvector's operators resolve for the LLM's SQL"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute(f"INSERT INTO {analytics}.sales VALUES (3, 1, '[0,0,0]')")
        # The read-only default is a session setting anyone can turn off; the missing privilege is what holds.
        reader.execute("SET default_transaction_read_only = off")
        refusals = [
            f"INSERT INTO {analytics}.sales VALUES (3, 1, '[0,0,0]')",
            f"UPDATE {analytics}.sales SET amount = 0",
            f"DELETE FROM {analytics}.sales",
            f"TRUNCATE {analytics}.sales",
            f"CREATE TABLE {analytics}.mine (x int)",
            "CREATE TABLE public.mine (x int)",
            "CREATE TEMP TABLE mine (x int)",
            "CREATE SCHEMA mine",
            f"SELECT * FROM {ACCESS.app_schema}.memory",  # the app's own tables: chat memory
            "CREATE ROLE intruder",
        ]
        allowed = []
        for sql in refusals:
            try:
                reader.execute(sql)
                allowed.append(sql)
            except psycopg.errors.InsufficientPrivilege:
                pass
        assert allowed == [], "the read-only role may not run these"
        reader.execute(f"GRANT SELECT ON {analytics}.sales TO PUBLIC")  # PostgreSQL only warns: nothing granted
        acl = reader.execute(f"SELECT relacl::text FROM pg_class WHERE oid = '{analytics}.sales'::regclass").fetchone()
        assert acl is not None and "{=" not in acl[0] and ",=" not in acl[0], "PUBLIC got nothing"


def test_the_app_role_owns_its_tables_and_nothing_else(postgres, database, response_url) -> None:
    url, _ = response_url
    _deploy(postgres, database, url, template("dev", "database"))
    with postgres.connect(ACCESS.app_user, database) as app:
        app.execute("CREATE TABLE embeddings (id int, v vector(2))")  # search_path: the app schema first
        owner = app.execute(f"SELECT tableowner FROM pg_tables WHERE schemaname = '{ACCESS.app_schema}'").fetchone()
        assert owner == (ACCESS.app_user,)
        for sql in ("CREATE TABLE public.mine (x int)", "CREATE ROLE intruder", "CREATE DATABASE mine"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)


def test_the_timeouts_and_the_connection_limit_hold(postgres, database, response_url) -> None:
    url, _ = response_url
    doc = _with_access(
        app_user="nlsql_t_app",
        readonly_user="nlsql_t_reader",
        statement_timeout_seconds=1,
        idle_in_transaction_timeout_seconds=1,
        readonly_connection_limit=2,
    )
    assert _deploy(postgres, database, url, doc) == ["SUCCESS", "SUCCESS"]
    with postgres.connect("nlsql_t_reader", database) as reader:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            reader.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3
    reader = postgres.connect("nlsql_t_reader", database, autocommit=False)
    try:
        reader.execute("SELECT 1")  # a transaction is open now, and left idle
        time.sleep(1.6)
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            reader.execute("SELECT 1")
    finally:
        reader.close()
    held = [postgres.connect("nlsql_t_reader", database) for _ in range(2)]
    try:
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            postgres.connect("nlsql_t_reader", database).close()
    finally:
        for conn in held:
            conn.close()


def test_a_second_create_and_an_update_change_nothing(postgres, database, response_url) -> None:
    url, received = response_url
    doc = template("dev", "database")
    _deploy(postgres, database, url, doc)
    before = _snapshot(postgres, database)
    assert _deploy(postgres, database, url, doc) == ["SUCCESS", "SUCCESS"]  # a retried Create
    assert _deploy(postgres, database, url, doc, "Update") == ["SUCCESS", "SUCCESS"]
    assert _snapshot(postgres, database) == before
    assert before["roles"] and before["settings"] and before["defaults"], "the snapshot sees what set-up made"


def test_an_update_takes_back_what_someone_granted_by_hand(postgres, database, response_url) -> None:
    url, _ = response_url
    doc = template("dev", "database")
    _deploy(postgres, database, url, doc)
    before = _snapshot(postgres, database)
    analytics, reader = ACCESS.analytics_schemas[0], ACCESS.readonly_user
    postgres.run(f"GRANT CREATE ON SCHEMA {analytics} TO {reader}", database=database)
    postgres.run(f"GRANT ALL ON SCHEMA {ACCESS.app_schema} TO {reader}", database=database)
    postgres.run(f"GRANT TEMP ON DATABASE {database} TO {reader}", database=database)
    postgres.run(f"ALTER ROLE {reader} SET statement_timeout = 0", database=database)
    postgres.run(f"ALTER ROLE {reader} CREATEDB CONNECTION LIMIT -1")
    assert _snapshot(postgres, database) != before
    assert _deploy(postgres, database, url, doc, "Update") == ["SUCCESS", "SUCCESS"]
    assert _snapshot(postgres, database) == before


def test_a_failing_statement_fails_the_resource_and_names_the_statement(postgres, database, response_url) -> None:
    url, received = response_url
    postgres.run(f'REVOKE rds_iam FROM "{MASTER}"')  # a master user that may not grant rds_iam
    try:
        statuses = _deploy(
            postgres, database, url, _with_access(app_user="nlsql_f_app", readonly_user="nlsql_f_reader")
        )
    finally:
        postgres.run(f'GRANT rds_iam TO "{MASTER}" WITH ADMIN OPTION')
    assert statuses == ["SUCCESS", "FAILED"]
    reason = received[-1]["Reason"]
    assert "statement 3 (GRANT rds_iam TO" in reason and "BadRequestException" in reason


def test_a_name_that_could_end_an_identifier_is_refused_by_the_params_loader(tmp_path: Path) -> None:
    """The names in the SQL come from params, which allow only [a-z0-9_]: no quote can end an identifier."""
    text = (PARAMS / "dev.yaml").read_text()
    hostile = text.replace(
        "database:\n", "database:\n  access:\n    readonly_user: 'x\"; DROP DATABASE nlsql; --'\n", 1
    )
    assert hostile != text
    (tmp_path / "dev.yaml").write_text(hostile)
    with pytest.raises(ConfigError, match=r"database\.access\.readonly_user"):
        params.load(tmp_path / "dev.yaml")
