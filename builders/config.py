"""The environment config: one typed, frozen object per params file.

Everything that differs between environments is declared here, once, with
its documentation beside it (the way terraform-aws-vpc documents each input
in variables.tf). Builders receive an `EnvConfig` and never read files or
environment variables, so a template is a function of this object alone.

Validation happens in two passes. Pydantic checks shape, types and ranges
(unknown keys refused, nothing coerced from a string). `cross_checks()` then
checks the rules that span fields (subnets inside the VPC and not
overlapping, AZ count within what the region offers, ...) and reports each
problem at the key a person would edit. `builders.params` turns both kinds of
failure into one `ConfigError` that names the file and key path.
"""

from __future__ import annotations

import difflib
from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator

from builders import dbnames, subnets
from builders.paramfiles import ENV_NAME_PATTERN
from builders.regions import (
    AZS_PER_REGION,
    INTERFACE_SERVICES,
    MAX_AZS,
    offers,
    profile_callable_from,
    profile_model,
)

# The values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

DEFAULT_INTERFACE_ENDPOINTS: tuple[str, ...] = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


MAX_S3_KEY_BYTES = 1024  # S3's longest object key, and so the longest prefix that can match one
MIN_WINDOW_MINUTES = 30  # RDS: backup and maintenance windows last at least 30 minutes
IAM_INLINE_POLICY_LIMIT = 10_240  # characters of all inline policies of one role (whitespace not counted)
BEDROCK_POLICY_BUDGET = IAM_INLINE_POLICY_LIMIT - 2_048  # what the model ARNs may take; the rest is ~700 today
BEDROCK_ARN_PREFIX = "arn:aws-iso-b:bedrock:us-isob-east-1::foundation-model/"  # the longest partition and region
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _window_minutes(window: str) -> tuple[int, int]:
    """A window as (start, end) in minutes, end after start: hh:mm-hh:mm within a day, ddd:hh:mm-... in a week."""

    def minutes(part: str) -> int:
        *day, hours, mins = part.split(":")
        return (DAYS.index(day[0]) * 1440 if day else 0) + int(hours) * 60 + int(mins)

    first, second = window.split("-")
    start, end = minutes(first), minutes(second)
    if end <= start:  # past midnight (daily) or past Sunday (weekly)
        end += 1440 if first.count(":") == 1 else 7 * 1440
    return start, end


def _once_each(values: tuple[str, ...]) -> None:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"listed more than once: {', '.join(dupes)}")


# A GitHub repository as owner/name: also templates/github-oidc.yaml's Repository AllowedPattern (builders/github.py).
GITHUB_REPOSITORY_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


class _Model(BaseModel):
    """Frozen, closed models: a typo in a params file is an error, never ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise ValueError(f"CloudWatch Logs does not accept {days} days; allowed: {allowed}")
    return days


# The enum is for editors (params/schema.json); _retention() gives the error message.
RetentionDays = Annotated[
    StrictInt,
    Field(description="Days CloudWatch keeps the logs.", json_schema_extra={"enum": list(LOG_RETENTION_DAYS)}),
]
Cidr = Annotated[StrictStr, Field(description="An IPv4 CIDR such as 10.0.0.0/16.")]


def _network(value: str) -> IPv4Network:
    try:
        return IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 network in CIDR form such as 10.0.0.0/16 ({exc})") from None


class FlowLogs(_Model):
    """VPC flow logs, delivered to a CloudWatch log group of the network stack."""

    enabled: StrictBool = Field(True, description="Record VPC flow logs.")
    retention_days: RetentionDays = Field(..., description="Days the flow-log group keeps records.")
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = Field(
        "ALL", description="Which traffic to record: ALL, ACCEPT or REJECT."
    )

    _check_retention = field_validator("retention_days")(_retention)


# The interface endpoints the tasks need when no NAT gateway takes them to AWS's public endpoints: image
# manifests and pulls, their logs, Bedrock (S3 comes through its gateway endpoint). The build's flow proof
# (builders/build/flows.py AWS_SERVICES) finds the same; a test holds the two lists together.
NAT_FREE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "bedrock-runtime")


class VpcEndpoints(_Model):
    """PrivateLink endpoints, so AWS API traffic from private subnets skips the NAT."""

    enabled: StrictBool = Field(
        ..., description="Create the endpoints (interface endpoints cost ~$7.30/AZ/month each)."
    )
    interface_services: tuple[Annotated[StrictStr, Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)*$")], ...] = Field(
        DEFAULT_INTERFACE_ENDPOINTS,
        description="Service suffixes of the interface endpoints (com.amazonaws.<region>.<suffix>), private DNS on.",
    )
    s3_gateway: StrictBool = Field(True, description="Add the (free) S3 gateway endpoint to the private route tables.")

    @field_validator("interface_services")
    @classmethod
    def _unique(cls, services: tuple[str, ...]) -> tuple[str, ...]:
        _once_each(services)
        if "s3" in services:
            raise ValueError("s3 is served by the gateway endpoint (s3_gateway), not an interface endpoint")
        unknown = [s for s in services if s not in INTERFACE_SERVICES]
        if unknown:
            hints = [f"{s!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(s, INTERFACE_SERVICES, 1))
                     else repr(s) for s in unknown]  # fmt: skip
            raise ValueError(
                f"no interface endpoint service named {', '.join(hints)} is known (builders/regions.py "
                f"INTERFACE_SERVICES lists them: ecr.api, ecr.dkr, logs, secretsmanager, kms, sts, ssm, "
                f"bedrock-runtime, ...)"
            )
        return services


class SubnetOverrides(_Model):
    """Explicit subnet CIDRs, one per AZ in AZ order; a tier left out is derived from the VPC CIDR."""

    public: tuple[Cidr, ...] | None = Field(None, description="Public subnets (ALB, NAT gateways), /27 or larger.")
    private: tuple[Cidr, ...] | None = Field(None, description="Private subnets (Fargate tasks, endpoints).")
    database: tuple[Cidr, ...] | None = Field(None, description="Database subnets (Aurora), no internet route.")


class Network(_Model):
    """The VPC and everything in it (the seed's `networking` module)."""

    vpc_cidr: Cidr = Field(..., description="The VPC's IPv4 CIDR, /16 to /28.")
    az_count: StrictInt = Field(..., ge=1, le=MAX_AZS, description="Availability Zones to span, 1 to 6.")
    nat_gateways: Literal["single", "per_az", "none"] = Field(
        ...,
        description="single: one NAT gateway for all AZs (cheap); per_az: one per AZ (HA); none: no internet egress.",
    )
    subnets: SubnetOverrides = Field(SubnetOverrides(), description="Subnet CIDR overrides per tier.")
    vpc_endpoints: VpcEndpoints = Field(..., description="VPC endpoints.")
    flow_logs: FlowLogs = Field(..., description="VPC flow logs.")

    def subnet_cidrs(self, tier: subnets.Tier) -> tuple[IPv4Network, ...]:
        """The tier's subnets, one per AZ: the override when given, else the derived layout."""
        override = getattr(self.subnets, tier)
        if override is not None:
            return tuple(IPv4Network(c, strict=True) for c in override)
        return subnets.derive(IPv4Network(self.vpc_cidr), tier, self.az_count)


class IntelligentTiering(_Model):
    """S3 Intelligent-Tiering for the data lake, and its optional archive tiers."""

    enabled: StrictBool = Field(..., description="Move objects to INTELLIGENT_TIERING and configure its archive tiers.")
    transition_days: StrictInt = Field(0, ge=0, le=3650, description="Days after creation an object moves to it.")
    archive_access_days: StrictInt | None = Field(
        None,
        ge=90,
        le=730,
        description="Days without access before the Archive Access tier (90-730); null leaves it off. "
        "Archived objects must be restored before a query can read them.",
    )
    deep_archive_access_days: StrictInt | None = Field(
        None,
        ge=180,
        le=730,
        description="Days without access before Deep Archive Access (180-730); null leaves it off.",
    )
    archive_prefix: StrictStr | None = Field(
        None,
        description="Only objects under this prefix may be archived (e.g. 'archive/'); null means the whole bucket.",
    )

    @field_validator("archive_prefix")
    @classmethod
    def _prefix(cls, prefix: str | None) -> str | None:
        if prefix is None:
            return None
        if not prefix:
            raise ValueError("'' would archive the whole bucket; write null for that, or a prefix such as 'archive/'")
        if len(prefix.encode("utf-8")) > MAX_S3_KEY_BYTES:
            raise ValueError(
                f"is {len(prefix.encode('utf-8')):,} bytes; an S3 key prefix is at most {MAX_S3_KEY_BYTES:,} bytes"
            )
        return prefix


class AccessLogging(_Model):
    """S3 server access logs for the data lake, into a separate log bucket."""

    enabled: StrictBool = Field(..., description="Log every request to the data lake into a log bucket.")
    retention_days: StrictInt = Field(365, ge=1, le=3650, description="Days the log bucket keeps access logs.")


class Storage(_Model):
    """The data lake (the seed's `s3` module)."""

    encryption: Literal["AES256", "KMS"] = Field(
        ..., description="AES256: S3-managed keys; KMS: a customer managed key of this stack, rotated yearly."
    )
    intelligent_tiering: IntelligentTiering = Field(..., description="Intelligent-Tiering.")
    access_logging: AccessLogging = Field(..., description="Server access logging.")
    noncurrent_version_expiration_days: StrictInt = Field(
        30, ge=1, le=3650, description="Days an overwritten or deleted object version is kept before it expires."
    )
    abort_incomplete_multipart_upload_days: StrictInt = Field(
        7, ge=1, le=365, description="Days before an unfinished multipart upload is aborted and its parts removed."
    )


# Fargate's valid task sizes: vCPU units -> the memory (MiB) each allows.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
# An ACM certificate ARN, or the name of an SSM parameter that holds one.
CERTIFICATE_PATTERN = r"^(arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[a-f0-9-]+|/[A-Za-z0-9_./-]+)$"
PERFORMANCE_INSIGHTS_DAYS: tuple[int, ...] = (7, *(31 * m for m in range(1, 24)), 731)
ENHANCED_MONITORING_SECONDS: tuple[int, ...] = (0, 1, 5, 10, 15, 30, 60)  # what RDS accepts; 0 is off
Acu = Annotated[float, Field(ge=0, le=256, multiple_of=0.5, strict=True)]


PgIdentifier = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
# Schemas PostgreSQL (or RDS) owns: the app's roles get nothing in them.
SYSTEM_SCHEMAS = frozenset({"public", "information_schema"})


def _schema_name(schema: str) -> str:
    if schema in SYSTEM_SCHEMAS:
        raise ValueError(f"{schema!r} is a schema PostgreSQL makes for everyone; name one of the app's")
    if schema.startswith("pg_") or schema in dbnames.SQL_RESERVED:
        raise ValueError(f"{schema!r} is reserved by PostgreSQL (pg_ schemas and reserved words)")
    return schema


class DatabaseAccess(_Model):
    """The database roles the app connects as (README "Database access"): never the master user."""

    app_user: PgIdentifier = Field(
        "nlsql_app", description="The API's own role: owns the app schema (pgvector memory, embeddings)."
    )
    readonly_user: PgIdentifier = Field(
        "nlsql_reader", description="The role LLM-written SQL runs as: SELECT on the analytics schemas only."
    )
    app_schema: PgIdentifier = Field("app", description="The schema of the app's own tables, owned by app_user.")
    analytics_schemas: tuple[PgIdentifier, ...] = Field(
        ("analytics",),
        min_length=1,
        description="Schemas of the data the LLM queries; app_user owns them, readonly_user may only SELECT.",
    )
    statement_timeout_seconds: StrictInt = Field(
        30, ge=1, le=3600, description="readonly_user's statement_timeout: longer queries are cancelled (1-3600)."
    )
    idle_in_transaction_timeout_seconds: StrictInt = Field(
        60, ge=1, le=3600, description="readonly_user's idle_in_transaction_session_timeout (1-3600)."
    )
    readonly_connection_limit: StrictInt = Field(
        20, ge=1, le=5000, description="Most connections readonly_user may hold at once (1-5000)."
    )
    app_connection_limit: StrictInt = Field(
        50, ge=1, le=5000, description="Most connections app_user may hold at once (1-5000)."
    )

    @field_validator("app_user", "readonly_user")
    @classmethod
    def _name(cls, value: str) -> str:
        why = dbnames.reserved(value)
        if why:
            raise ValueError(why)
        if not value.startswith(dbnames.APP_USER_PREFIX) or value == dbnames.APP_USER_PREFIX:
            raise ValueError(
                f"{value!r} must start with {dbnames.APP_USER_PREFIX!r}: the permissions boundary lets the tasks log "
                f'in only as such users (README "Permissions boundary"), e.g. {dbnames.APP_USER_PREFIX}reader'
            )
        return value

    _check_app_schema = field_validator("app_schema")(_schema_name)

    @field_validator("analytics_schemas")
    @classmethod
    def _schemas(cls, schemas: tuple[str, ...]) -> tuple[str, ...]:
        for schema in schemas:
            _schema_name(schema)
        if len(set(schemas)) != len(schemas):
            raise ValueError(f"{list(schemas)} names a schema twice")
        return schemas


class Database(_Model):
    """Aurora PostgreSQL Serverless v2 with pgvector (the seed's TODO `aurora` module)."""

    engine_version: Annotated[StrictStr, Field(pattern=r"^16\.\d+$")] = Field(
        "16.8", description="Aurora PostgreSQL 16.x (pgvector ships with it; 0 ACU needs 16.3 or later)."
    )
    min_capacity: Acu = Field(..., description="Fewest Aurora capacity units (0-256, steps of 0.5); 0 lets it pause.")
    max_capacity: Acu = Field(..., description="Most Aurora capacity units (1-256, steps of 0.5).")
    auto_pause_seconds: StrictInt | None = Field(
        None, ge=300, le=86400, description="With min_capacity 0: idle seconds before the cluster pauses (300-86400)."
    )
    readers: StrictInt = Field(0, ge=0, le=15, description="Reader instances besides the writer, each in the next AZ.")
    database_name: Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")] = Field(
        "nlsql", description="The database the app uses (and where pgvector is installed)."
    )
    master_username: Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")] = Field(
        "nlsql_admin", description="The master user; its password is made and kept by Secrets Manager."
    )
    backup_retention_days: StrictInt = Field(..., ge=1, le=35, description="Days automated backups are kept (1-35).")
    backup_window: Annotated[StrictStr, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")] = Field(
        "03:00-04:00", description="Daily backup window, UTC, hh:mm-hh:mm."
    )
    maintenance_window: Annotated[
        StrictStr,
        Field(
            pattern=r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
        ),
    ] = Field("sun:05:00-sun:06:00", description="Weekly maintenance window, UTC, ddd:hh:mm-ddd:hh:mm.")
    performance_insights_days: StrictInt = Field(
        7, description="Days Performance Insights keeps data: 7 (free) or a multiple of 31 up to 731."
    )
    log_exports: tuple[Literal["postgresql", "iam-db-auth-error", "instance"], ...] = Field(
        ("postgresql",), description="Logs exported to CloudWatch Logs."
    )
    # The enum is for editors (params/schema.json); _monitoring() gives the error message.
    enhanced_monitoring_seconds: StrictInt = Field(
        0,
        description="Enhanced Monitoring's OS metrics interval in seconds (0: off, 1, 5, 10, 15, 30 or 60).",
        json_schema_extra={"enum": list(ENHANCED_MONITORING_SECONDS)},
    )
    access: DatabaseAccess = Field(
        default_factory=DatabaseAccess, description='The roles the app connects as (README "Database access").'
    )

    @field_validator("master_username")
    @classmethod
    def _username(cls, username: str) -> str:
        why = dbnames.reserved(username)
        if why:
            raise ValueError(f"{why}; e.g. nlsql_admin")
        return username

    @field_validator("backup_window", "maintenance_window")
    @classmethod
    def _window(cls, window: str) -> str:
        start, end = _window_minutes(window)
        if end - start < MIN_WINDOW_MINUTES:
            raise ValueError(f"{window!r} lasts {end - start} minutes; RDS needs a window of at least 30 minutes")
        return window

    @field_validator("performance_insights_days")
    @classmethod
    def _pi_days(cls, days: int) -> int:
        if days not in PERFORMANCE_INSIGHTS_DAYS:
            raise ValueError(f"Performance Insights does not keep data {days} days; allowed: 7, 31, 62, ... 713, 731")
        return days

    @field_validator("enhanced_monitoring_seconds")
    @classmethod
    def _monitoring(cls, seconds: int) -> int:
        if seconds not in ENHANCED_MONITORING_SECONDS:
            allowed = ", ".join(map(str, ENHANCED_MONITORING_SECONDS))
            raise ValueError(f"Enhanced Monitoring does not sample every {seconds} seconds; allowed: {allowed}")
        return seconds


class Service(_Model):
    """One Fargate service: its image tag, task size, count and health check."""

    image_tag: Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] = Field(
        ..., description="Tag of the image in the account's nlsql/<service> ECR repository (immutable tags)."
    )
    cpu: StrictInt = Field(..., description="vCPU units: 256, 512, 1024, 2048, 4096, 8192 or 16384.")
    memory: StrictInt = Field(..., description="MiB; must be a size Fargate offers for the cpu.")
    desired_count: StrictInt = Field(..., ge=0, le=100, description="Tasks to run at deploy time.")
    min_count: StrictInt = Field(..., ge=0, le=100, description="Fewest tasks autoscaling keeps.")
    max_count: StrictInt = Field(..., ge=1, le=100, description="Most tasks autoscaling runs.")
    cpu_target_percent: StrictInt = Field(60, ge=10, le=90, description="Average CPU autoscaling aims for.")
    health_check_path: Annotated[StrictStr, Field(pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        ..., description="HTTP path the container and the load balancer probe."
    )


class Domain(_Model):
    """The app's own name, in a Route 53 hosted zone of the account."""

    name: Annotated[
        StrictStr, Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", min_length=4, max_length=253)
    ] = Field(..., description="The app's domain name, e.g. insights.example.com (lower case).")
    hosted_zone_id: Annotated[StrictStr, Field(pattern=r"^Z[A-Z0-9]{1,31}$")] = Field(
        ..., description="The Route 53 public hosted zone that holds the name (its id, Z...)."
    )


class Waf(_Model):
    """A WAFv2 web ACL on the public ALB: every request can drive Bedrock spend and database load."""

    enabled: StrictBool = Field(
        False,
        description="AWS managed rule groups (common, known bad inputs) and a per-IP rate limit on the ALB, with "
        "WAF logs in CloudWatch Logs.",
    )
    rate_limit: StrictInt = Field(
        1000, ge=10, le=2_000_000_000, description="Requests one IP address may make in 5 minutes before it is blocked."
    )
    log_retention_days: RetentionDays = Field(30, description="Days the WAF log group keeps records.")

    _check_retention = field_validator("log_retention_days")(_retention)


class Compute(_Model):
    """ECS Fargate behind an ALB (the seed's TODO `ecs` module)."""

    certificate: Annotated[StrictStr, Field(pattern=CERTIFICATE_PATTERN)] | None = Field(
        None,
        description="HTTPS certificate: an ACM certificate ARN, or (better, no account id in git) the name of an "
        "SSM parameter holding it, e.g. /nlsql/prod/certificate-arn. null: HTTP only (dev).",
    )
    container_insights: StrictBool = Field(False, description="CloudWatch Container Insights on the ECS cluster.")
    fargate_spot: StrictBool = Field(
        False, description="Run tasks beyond the first of each service on FARGATE_SPOT (~70% cheaper, interruptible)."
    )
    domain: Domain | None = Field(
        None,
        description="The app's own name: a DNS-validated ACM certificate (unless `certificate` names one) and an "
        "alias record to the ALB; AppUrl is then https://<name>. null: the ALB's own name.",
    )
    waf: Waf = Field(default_factory=Waf, description="Edge protection of the public ALB.")
    run_as_uid: StrictInt = Field(
        1000,
        ge=1,
        le=2_147_483_647,
        description="The user (uid, and gid the same) both containers run as; never 0 (root). The images must "
        "not need to write outside /tmp, which is the only writable path (the root filesystem is read-only).",
    )
    bedrock_models: tuple[Annotated[StrictStr, Field(pattern=r"^[a-z0-9-]+\.[A-Za-z0-9.:_-]+$")], ...] = Field(
        ...,
        description="Bedrock model ids the API may invoke: foundation-model ids (anthropic.claude-...) or "
        "cross-region inference-profile ids (us.anthropic.claude-..., eu., apac., global.), which newer models need.",
        min_length=1,
    )

    @field_validator("bedrock_models")
    @classmethod
    def _models(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        _once_each(models)
        # '"arn...",' in the policy JSON; an inference profile takes three (its ARN twice, its model's once)
        size = sum((len(BEDROCK_ARN_PREFIX) + len(m) + 3) * (3 if profile_model(m) else 1) for m in models)
        if size > BEDROCK_POLICY_BUDGET:
            fits = BEDROCK_POLICY_BUDGET // (len(BEDROCK_ARN_PREFIX) + max(map(len, models)) + 3)
            raise ValueError(
                f"{len(models)} models make the API task's IAM policy too large ({size:,} characters of model ARNs; "
                f"IAM allows a role {IAM_INLINE_POLICY_LIMIT:,} in all, and {BEDROCK_POLICY_BUDGET:,} are left for "
                f"them): list at most about {fits}, or use a wildcard family such as anthropic.*"
            )
        return models

    @property
    def tls(self) -> bool:
        """Whether the ALB serves HTTPS: a certificate is named, or one is made for the domain."""
        return self.certificate is not None or self.domain is not None

    api: Service = Field(..., description="The NL-to-SQL API, port 8000.")
    ui: Service = Field(..., description="The Streamlit UI, port 8501.")


class AlarmSettings(_Model):
    """One alarm kind's settings in this environment (builders/alarms.py has the defaults and the meaning)."""

    enabled: StrictBool | None = Field(None, description="Make this alarm (null: the environment's default).")
    threshold: StrictInt | StrictFloat | None = Field(None, description="The threshold, in the kind's unit.")
    period_seconds: StrictInt | None = Field(
        None, description="Seconds per datapoint: 10, 30, or a multiple of 60.", json_schema_extra={"minimum": 10}
    )
    evaluation_periods: StrictInt | None = Field(None, ge=1, le=100, description="Periods looked at (M of N's N).")
    datapoints: StrictInt | None = Field(None, ge=1, le=100, description="Periods that must breach (M of N's M).")

    @field_validator("period_seconds")
    @classmethod
    def _period(cls, seconds: int | None) -> int | None:
        if seconds is not None and seconds not in (10, 30) and (seconds < 60 or seconds % 60):
            raise ValueError(f"CloudWatch takes periods of 10, 30 or a multiple of 60 seconds, not {seconds}")
        return seconds


class Rollback(_Model):
    """CloudFormation rollback triggers: a deploy that sets one of these alarms off is rolled back."""

    alarms: tuple[Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")], ...] = Field(
        (), description="Alarm names without the nlsql-<env>- prefix, e.g. app-unhealthy; none: no triggers."
    )
    monitoring_minutes: StrictInt = Field(
        10, ge=0, le=180, description="Minutes CloudFormation watches the triggers after the last resource (0-180)."
    )

    @field_validator("alarms")
    @classmethod
    def _once(cls, alarms: tuple[str, ...]) -> tuple[str, ...]:
        _once_each(alarms)
        return alarms


class Monitoring(_Model):
    """Alarms, the alarm topic and its subscriptions, the dashboard and the deploys' rollback triggers."""

    alarms_by_default: StrictBool = Field(
        True, description="Make every alarm kind unless `alarms` turns it off (false: only those `alarms` enables)."
    )
    alarms: dict[StrictStr, AlarmSettings] = Field(
        default_factory=dict, description="Per alarm kind (builders/alarms.py): enabled, threshold, periods."
    )
    email: tuple[Annotated[StrictStr, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")], ...] = Field(
        (), description="Addresses the alarm topic emails (each confirms once)."
    )
    https: tuple[Annotated[StrictStr, Field(pattern=r"^https://[^\s]+$")], ...] = Field(
        (), description="HTTPS endpoints the alarm topic posts to (a pager, a chat webhook relay)."
    )
    dashboard: StrictBool = Field(True, description="A CloudWatch dashboard nlsql-<env> ($3 a month).")
    rollback: Rollback = Field(default_factory=Rollback, description="Deploys that roll back on their own.")

    @field_validator("alarms")
    @classmethod
    def _known(cls, alarms: dict[str, AlarmSettings]) -> dict[str, AlarmSettings]:
        from builders.alarms import kind_keys

        known = kind_keys()
        unknown = [k for k in alarms if k not in known]
        if unknown:
            hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, known, 1)) else repr(k)
                     for k in unknown]  # fmt: skip
            raise ValueError(f"no alarm kind {', '.join(hints)}; known: {', '.join(known)}")
        return alarms


class EnvConfig(_Model):
    """One environment, as read from params/<environment>.yaml."""

    environment: Annotated[StrictStr, Field(pattern=ENV_NAME_PATTERN)] = Field(
        ..., description="The environment's name; must equal the params file's name (dev for params/dev.yaml)."
    )
    region: StrictStr = Field(..., description="The AWS region the environment is deployed to.")
    account_id: Annotated[StrictStr, Field(pattern=r"^\d{12}$")] = Field(
        ...,
        description="The AWS account (12 digits, quoted) the environment is deployed to: every AWS command "
        "refuses credentials of any other account before it calls anything else.",
    )
    deploy_role: Annotated[StrictStr, Field(pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+$")] | None = Field(
        None,
        description="An IAM role in account_id that AWS commands assume first (one set of credentials reaching "
        "each environment's account); null: use the credentials as they are.",
    )
    github_repository: Annotated[StrictStr, Field(pattern=GITHUB_REPOSITORY_PATTERN)] | None = Field(
        None,
        description="The GitHub repository (owner/name) whose workflows deploy to this account: `build.py "
        "--stacksets` passes it to the nlsql-github-oidc stack set as Repository; null: that command refuses.",
    )
    production: StrictBool = Field(
        False, description="Production safeguards: deletion protection on the ALB and Aurora, at least one reader."
    )
    log_retention_days: RetentionDays = Field(
        ..., description="Days the app's log groups keep logs (the services', the pgvector function's)."
    )
    network: Network
    storage: Storage
    database: Database
    compute: Compute
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Alarms, dashboard, rollback triggers.")

    _check_retention = field_validator("log_retention_days")(_retention)

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in AZS_PER_REGION:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(sorted(AZS_PER_REGION))}")
        return region


# Keys of other layouts -> where the value lives now, and what it takes there. An older layout is what a
# platform engineer brings from the Terraform project this one replaces (terraform-aws-modules' VPC variable
# names, the seed's enable_* flags) or a flatter early draft; the loader turns such a key into "rename it"
# instead of a bare "unknown key". Add a line here whenever a key is renamed.
RENAMED: dict[str, tuple[str, str]] = {
    "env": ("environment", "the environment's name"),
    "environment_name": ("environment", "the environment's name"),
    "aws_region": ("region", "an AWS region such as us-east-1"),
    "vpc_cidr": ("network.vpc_cidr", "now under network:"),
    "az_count": ("network.az_count", "now under network:"),
    "network.cidr": ("network.vpc_cidr", "an IPv4 CIDR such as 10.0.0.0/16"),
    "network.azs": ("network.az_count", "a count; the AZs are the region's first N"),
    "network.availability_zones": ("network.az_count", "a count; the AZs are the region's first N"),
    "network.enable_nat_gateway": ("network.nat_gateways", "single | per_az | none"),
    "network.single_nat_gateway": ("network.nat_gateways", "single | per_az | none"),
    "network.one_nat_gateway_per_az": ("network.nat_gateways", "single | per_az | none"),
    "network.enable_vpc_endpoints": ("network.vpc_endpoints.enabled", "true | false"),
    "network.enable_flow_log": ("network.flow_logs.enabled", "true | false"),
    "network.flow_log_retention_days": ("network.flow_logs.retention_days", "days CloudWatch Logs accepts"),
    "network.flow_log_cloudwatch_log_group_retention_in_days": (
        "network.flow_logs.retention_days",
        "days CloudWatch Logs accepts",
    ),
    "network.public_subnets": ("network.subnets.public", "a list of CIDRs, one per AZ"),
    "network.private_subnets": ("network.subnets.private", "a list of CIDRs, one per AZ"),
    "network.database_subnets": ("network.subnets.database", "a list of CIDRs, one per AZ"),
    "storage.enable_intelligent_tiering": ("storage.intelligent_tiering.enabled", "true | false"),
    "storage.enable_access_logging": ("storage.access_logging.enabled", "true | false"),
    "storage.sse_algorithm": ("storage.encryption", "AES256 | KMS"),
    "storage.kms_encryption": ("storage.encryption", "AES256 | KMS"),
    "database.min_acu": ("database.min_capacity", "ACUs, 0-256 in steps of 0.5"),
    "database.max_acu": ("database.max_capacity", "ACUs, 0-256 in steps of 0.5"),
    "database.reader_count": ("database.readers", "reader instances besides the writer"),
    "compute.api.image": ("compute.api.image_tag", "the tag alone; the repository is nlsql/api"),
    "compute.ui.image": ("compute.ui.image_tag", "the tag alone; the repository is nlsql/ui"),
}

Problem = tuple[str, str]  # (key path, message)
_DERIVED = " (derived)"


def _region_facts(cfg: EnvConfig) -> list[Problem]:
    """What the environment's region does not offer, at the key that asks for it (builders/regions.py).

    These fail a deploy half-way (an endpoint service that does not exist)
    or the app at its first request (an inference profile invoked outside
    its geography), so the build refuses them with the region named.
    """
    problems: list[Problem] = []
    endpoints = cfg.network.vpc_endpoints
    missing = [s for s in endpoints.interface_services if not offers(cfg.region, s)] if endpoints.enabled else []
    if missing:
        problems.append(("network.vpc_endpoints.interface_services", f"{', '.join(missing)}: no interface endpoint "
                         f"in {cfg.region} (AWS's endpoint data, builders/regions.py NOT_OFFERED); drop "
                         f"{'them' if len(missing) > 1 else 'it'}, or choose a region that offers "
                         f"{'them' if len(missing) > 1 else 'it'}"))  # fmt: skip
    foreign = [m for m in cfg.compute.bedrock_models if not profile_callable_from(m, cfg.region)]
    if foreign:
        problems.append(("compute.bedrock_models", f"{', '.join(foreign)}: an inference profile of another "
                         f"geography cannot be invoked from {cfg.region}; use the profile of this region's "
                         "geography (us., eu., apac., ...), a global. profile, or a foundation-model id"))  # fmt: skip
    return problems


def cross_checks(cfg: EnvConfig) -> list[Problem]:
    """Rules that span fields, each reported at the key to edit."""
    problems: list[Problem] = []
    if cfg.deploy_role is not None and (owner := cfg.deploy_role.split(":")[4]) != cfg.account_id:
        problems.append(("deploy_role", f"{cfg.deploy_role} is a role of account {owner}, not of account_id "
                         f"{cfg.account_id}: the role to assume must be in the environment's own account"))  # fmt: skip
    net = cfg.network
    offered = AZS_PER_REGION[cfg.region]
    if net.az_count > offered:
        problems.append(("network.az_count", f"{net.az_count} AZs asked for, but {cfg.region} offers {offered}"))
    problems += _region_facts(cfg)
    if net.nat_gateways == "none" and not net.vpc_endpoints.enabled:
        problems.append(
            (
                "network.nat_gateways",
                "'none' needs network.vpc_endpoints.enabled: true, or tasks in the private "
                "subnets cannot reach ECR, CloudWatch Logs or Secrets Manager; allowed: single, per_az",
            )
        )
    if net.nat_gateways == "none" and net.vpc_endpoints.enabled:
        missing = [s for s in NAT_FREE_ENDPOINTS if s not in net.vpc_endpoints.interface_services]
        if missing:
            problems.append(
                (
                    "network.vpc_endpoints.interface_services",
                    f"without NAT gateways the tasks reach AWS only through endpoints, and {', '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} missing (needed: {', '.join(NAT_FREE_ENDPOINTS)})",
                )
            )
        if not net.vpc_endpoints.s3_gateway:
            problems.append(
                (
                    "network.vpc_endpoints.s3_gateway",
                    "without NAT gateways it must be true: ECR serves image layers from S3, and the API reads the "
                    "data lake",
                )
            )
    problems += _check_vpc_and_subnets(net)
    problems += _check_database(cfg)
    problems += _check_compute(cfg.compute)
    tiering = cfg.storage.intelligent_tiering
    if (
        tiering.archive_access_days is not None
        and tiering.deep_archive_access_days is not None
        and tiering.deep_archive_access_days <= tiering.archive_access_days
    ):
        problems.append(
            (
                "storage.intelligent_tiering.deep_archive_access_days",
                f"{tiering.deep_archive_access_days} must be more than archive_access_days "
                f"({tiering.archive_access_days})",
            )
        )
    return problems


# Ranges AWS refuses for a VPC (CreateVpc: "invalid CIDR"), by what they are for.
SPECIAL_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
    ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
    ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
    ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
    ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
)


def _special_range(vpc: IPv4Network) -> str | None:
    for cidr, what in SPECIAL_RANGES:
        if vpc.overlaps(IPv4Network(cidr)):
            return what
    return None


def _check_vpc_and_subnets(net: Network) -> list[Problem]:
    try:
        vpc = _network(net.vpc_cidr)
    except ValueError as exc:
        return [("network.vpc_cidr", str(exc))]
    if not 16 <= vpc.prefixlen <= 28:
        return [("network.vpc_cidr", f"/{vpc.prefixlen} is outside what a VPC allows; allowed: /16 to /28")]
    special = _special_range(vpc)
    if special:
        return [
            (
                "network.vpc_cidr",
                f"{vpc} is {special}, which a VPC cannot use; use a private range such as 10.0.0.0/16, "
                f"172.16.0.0/16 or 192.168.0.0/16",
            )
        ]

    problems: list[Problem] = []
    placed: list[tuple[str, IPv4Network]] = []
    for tier in subnets.TIERS:
        override = getattr(net.subnets, tier)
        if override is None:
            if vpc.prefixlen > subnets.MAX_DERIVABLE_VPC_PREFIX:
                problems.append(
                    (
                        f"network.subnets.{tier}",
                        f"a /{vpc.prefixlen} VPC is too small for the derived layout (needs /"
                        f"{subnets.MAX_DERIVABLE_VPC_PREFIX} or larger); list the {tier} subnets explicitly",
                    )
                )
                continue
            placed += [
                (f"network.subnets.{tier}[{i}]{_DERIVED}", s)
                for i, s in enumerate(subnets.derive(vpc, tier, net.az_count))
            ]
            continue
        key = f"network.subnets.{tier}"
        if len(override) != net.az_count:
            problems.append((key, f"lists {len(override)} subnets but az_count is {net.az_count}; give one per AZ"))
        for i, text in enumerate(override):
            path = f"{key}[{i}]"
            try:
                subnet = _network(text)
            except ValueError as exc:
                problems.append((path, str(exc)))
                continue
            limit = subnets.MAX_PUBLIC_PREFIX if tier == "public" else subnets.MAX_SUBNET_PREFIX
            if subnet.prefixlen > limit:
                why = "an ALB needs /27 or larger" if tier == "public" else "AWS's smallest subnet is /28"
                problems.append((path, f"{text} is too small; {why}"))
            elif not subnet.subnet_of(vpc):
                problems.append((path, f"{text} is not inside the VPC CIDR {vpc}"))
            else:
                placed.append((path, subnet))
    for i, (path_a, a) in enumerate(placed):
        for path_b, b in placed[i + 1 :]:
            if a.overlaps(b):
                # Report at a key the user wrote, not at a derived subnet.
                if path_b.endswith(_DERIVED):
                    (path_a, a), (path_b, b) = (path_b, b), (path_a, a)
                problems.append((path_b, f"{b} overlaps {a} ({path_a})"))
    return problems


def _check_database(cfg: EnvConfig) -> list[Problem]:
    db = cfg.database
    problems: list[Problem] = []
    if db.max_capacity < max(db.min_capacity, 1):
        problems.append(("database.max_capacity", f"{db.max_capacity} must be at least 1 and at least min_capacity"))
    if db.min_capacity == 0 and db.auto_pause_seconds is None:
        problems.append(("database.auto_pause_seconds", "required when min_capacity is 0 (300-86400 seconds)"))
    if db.min_capacity > 0 and db.auto_pause_seconds is not None:
        problems.append(("database.auto_pause_seconds", "only applies when min_capacity is 0; remove it"))
    if cfg.production and db.readers < 1:
        problems.append(("database.readers", "production needs at least 1 reader, in another AZ, to fail over to"))
    if db.readers and cfg.network.az_count < 2:
        problems.append(("database.readers", "readers go to other AZs; network.az_count must be at least 2"))
    if _windows_overlap(db.backup_window, db.maintenance_window):
        problems.append(
            (
                "database.maintenance_window",
                f"{db.maintenance_window} overlaps the daily backup window {db.backup_window}; RDS refuses windows "
                f"that overlap, so move one of them",
            )
        )
    access = db.access
    users = {"master_username": db.master_username, "access.app_user": access.app_user}
    for key, user in users.items():
        if access.readonly_user == user:
            problems.append(("database.access.readonly_user", f"{user!r} is also {key}; it must be a role of its own"))
    if access.app_user == db.master_username:
        problems.append(
            ("database.access.app_user", f"{db.master_username!r} is the master user; the app must not connect as it")
        )
    if access.app_schema in access.analytics_schemas:
        problems.append(
            (
                "database.access.analytics_schemas",
                f"{access.app_schema!r} is the app_schema (the app's own tables, chat memory among them), which the "
                "LLM's read-only role must not read",
            )
        )
    return problems


def _windows_overlap(backup: str, maintenance: str) -> bool:
    """Whether the weekly maintenance window meets the daily backup window on any day (minutes of the week)."""
    week = 7 * 1440
    m_start, m_end = _window_minutes(maintenance)
    b_start, b_end = _window_minutes(backup)
    for day in range(-1, 8):  # the day before and after, for windows across midnight or Sunday night
        start, end = b_start + day * 1440, b_end + day * 1440
        for shift in (-week, 0, week):
            if start < m_end + shift and m_start + shift < end:
                return True
    return False


def _check_compute(compute: Compute) -> list[Problem]:
    problems: list[Problem] = []
    for key in ("api", "ui"):
        svc: Service = getattr(compute, key)
        sizes = FARGATE_SIZES.get(svc.cpu)
        if sizes is None:
            problems.append(
                (
                    f"compute.{key}.cpu",
                    f"{svc.cpu} is not a Fargate size; allowed: {', '.join(map(str, FARGATE_SIZES))}",
                )
            )
        elif svc.memory not in sizes:
            problems.append(
                (
                    f"compute.{key}.memory",
                    f"{svc.memory} MiB does not go with cpu {svc.cpu}; allowed: {', '.join(map(str, sizes))}",
                )
            )
        if not svc.min_count <= svc.desired_count <= svc.max_count:
            problems.append(
                (
                    f"compute.{key}.desired_count",
                    f"must lie between min_count ({svc.min_count}) and max_count ({svc.max_count})",
                )
            )
    return problems
