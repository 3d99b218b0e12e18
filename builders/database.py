"""The database stack: Aurora PostgreSQL Serverless v2, with pgvector and the app's roles set up by the stack itself.

The cluster is the one resource here that holds data: it is snapshotted on
deletion and on replacement, deletion-protected in production, encrypted
with the environment's key when it has one, and its master password never
appears anywhere but in Secrets Manager (`ManageMasterUserPassword`). The
master user is for administration: the stack's own custom resources use it
(through the Data API) to install pgvector and to make the two roles the app
connects as with IAM tokens (builders/dbaccess.py); no task ever gets it.
"""

from __future__ import annotations

from troposphere import (
    GetAtt,
    GetAZs,
    Join,
    Output,
    Parameter,
    Ref,
    Select,
    Template,
    awslambda,
    cloudformation,
    iam,
    rds,
)

from builders import dbaccess, network, shared, storage
from builders import iam as policies
from builders.config import EnvConfig
from builders.naming import description, name
from builders.policies import protect
from builders.scanners import NO_ENVIRONMENT_KEY, skip
from builders.tags import tags

MODULE = "database"
ENGINE = "aurora-postgresql"
PORT = 5432

OUT_ENDPOINT = "DatabaseEndpoint"
OUT_READER_ENDPOINT = "DatabaseReaderEndpoint"
OUT_PORT = "DatabasePort"
OUT_SECRET_ARN = "DatabaseSecretArn"
OUT_CLUSTER_ARN = "DatabaseClusterArn"
OUT_NAME = "DatabaseName"
OUT_CLUSTER_ID = "DatabaseClusterId"  # the alarms' and dashboard's DBClusterIdentifier
OUT_INSTANCE_IDS = "DatabaseInstanceIds"  # writer first, then the readers
OUT_SETUP_FUNCTION = "DatabaseSetupFunctionName"
OUT_CLUSTER_RESOURCE_ID = "DatabaseClusterResourceId"  # what rds-db:connect's resource ARN names the cluster by

# The custom resource waits at most this long for the Lambda's answer, instead of CloudFormation's hour.
PGVECTOR_TIMEOUT = 360
PGVECTOR_LAMBDA_TIMEOUT = 300


_SQL_PROPS = {
    **cloudformation.CustomResource.props,
    "ClusterArn": (object, True),
    "SecretArn": (object, True),
    "Database": (str, True),
    "Statements": ([str], True),
}


class PgVector(cloudformation.CustomResource):
    """Custom::PgVector: the vector extension in one database of the cluster."""

    resource_type = "Custom::PgVector"
    props = _SQL_PROPS


class DatabaseRoles(cloudformation.CustomResource):
    """Custom::DatabaseRoles: the app's and the LLM's roles, grants and settings; a change set shows a change
    to them apart from pgvector's."""

    resource_type = "Custom::DatabaseRoles"
    props = _SQL_PROPS


def build(cfg: EnvConfig) -> Template:
    """The database stack of one environment."""
    t = Template(Description=description(cfg, "database: Aurora PostgreSQL Serverless v2 with pgvector"))
    inputs = _add_parameters(t, cfg)
    cluster = _add_cluster(t, cfg, inputs)
    instances = _add_instances(t, cfg, cluster, inputs, _add_monitoring_role(t, cfg))
    function = _add_setup_sql(t, cfg, cluster, instances[0], inputs)
    _add_outputs(t, cfg, cluster)
    t.add_output(Output(OUT_CLUSTER_ID, Description="The cluster's identifier", Value=Ref(cluster)))
    t.add_output(
        Output(
            OUT_INSTANCE_IDS,
            Description="The instances' identifiers, comma-separated: the writer, then the readers",
            Value=Join(",", [Ref(i) for i in instances]),
        )
    )
    t.add_output(
        Output(OUT_SETUP_FUNCTION, Description="The set-up SQL function (pgvector, roles)", Value=Ref(function))
    )
    return t


def _add_parameters(t: Template, cfg: EnvConfig) -> dict[str, Parameter]:
    """Inputs wired by the root from the network and storage stacks' outputs of the same names."""
    params = {
        "subnets": Parameter(
            network.OUT_SUBNET_IDS["database"],
            Type="CommaDelimitedList",
            Description="The database subnets, in AZ order",
        ),
        "group": Parameter(network.OUT_SECURITY_GROUP_IDS["aurora"], Type="String", Description="aurora-sg"),
    }
    if cfg.storage.encryption == "KMS":
        params["key"] = Parameter(storage.OUT_KEY_ARN, Type="String", Description="The environment's KMS key")
    for param in params.values():
        t.add_parameter(param)
    return params


def _acu(value: float) -> float | int:
    """2 rather than 2.0 in the template: what a reviewer would write."""
    return int(value) if value.is_integer() else value


def _add_cluster(t: Template, cfg: EnvConfig, inputs: dict[str, Parameter]) -> rds.DBCluster:
    db = cfg.database
    key = {"KmsKeyId": Ref(inputs["key"])} if "key" in inputs else {}
    subnet_group = t.add_resource(
        rds.DBSubnetGroup(
            "DatabaseSubnetGroup",
            DBSubnetGroupDescription=f"{name(cfg, 'aurora')}: the database subnets",
            SubnetIds=Ref(inputs["subnets"]),
            Tags=tags(cfg, MODULE, name(cfg, "aurora")),
        )
    )
    parameters = t.add_resource(
        rds.DBClusterParameterGroup(
            "DatabaseClusterParameters",
            Description=f"{name(cfg, 'aurora')}: TLS only",
            Family=f"{ENGINE}{db.engine_version.split('.')[0]}",
            # Refuse unencrypted connections: the app, the Data API and psql all speak TLS.
            Parameters={"rds.force_ssl": "1"},
            Tags=tags(cfg, MODULE, name(cfg, "aurora")),
        )
    )
    scaling = rds.ServerlessV2ScalingConfiguration(MaxCapacity=_acu(db.max_capacity))
    # Set past troposphere's validator, which predates scale-to-zero (it refuses MinCapacity < 0.5);
    # cfn-lint checks the value against CloudFormation's current schema.
    scaling.properties["MinCapacity"] = _acu(db.min_capacity)
    if db.auto_pause_seconds is not None:
        scaling.properties["SecondsUntilAutoPause"] = db.auto_pause_seconds
    return t.add_resource(
        protect(
            rds.DBCluster(
                "DatabaseCluster",
                Engine=ENGINE,
                EngineVersion=db.engine_version,
                DatabaseName=db.database_name,
                Port=PORT,
                MasterUsername=db.master_username,
                ManageMasterUserPassword=True,
                MasterUserSecret=rds.MasterUserSecret(**key),
                ServerlessV2ScalingConfiguration=scaling,
                DBSubnetGroupName=Ref(subnet_group),
                DBClusterParameterGroupName=Ref(parameters),
                VpcSecurityGroupIds=[Ref(inputs["group"])],
                StorageEncrypted=True,
                **key,
                BackupRetentionPeriod=db.backup_retention_days,
                PreferredBackupWindow=db.backup_window,
                PreferredMaintenanceWindow=db.maintenance_window,
                EnableCloudwatchLogsExports=list(db.log_exports),
                EnableHttpEndpoint=True,  # the RDS Data API, which installs pgvector
                EnableIAMDatabaseAuthentication=True,
                CopyTagsToSnapshot=True,
                DeletionProtection=cfg.production,
                Tags=tags(cfg, MODULE, name(cfg, "aurora")),
            ),
            "Snapshot",
        )
    )


def _add_monitoring_role(t: Template, cfg: EnvConfig) -> iam.Role | None:
    """The role Enhanced Monitoring writes OS metrics with, when the params turn it on."""
    if not cfg.database.enhanced_monitoring_seconds:
        return None
    return t.add_resource(
        shared.role(
            "DatabaseMonitoringRole",
            cfg,
            MODULE,
            "aurora-monitoring",
            "lets RDS Enhanced Monitoring write the instances' OS metrics",
            policies.rds_monitoring_trust(),
            policies.rds_enhanced_monitoring(),
        )
    )


def _monitoring(cfg: EnvConfig, role: iam.Role | None) -> dict[str, object]:
    if role is None:
        return {}
    return {"MonitoringInterval": cfg.database.enhanced_monitoring_seconds, "MonitoringRoleArn": GetAtt(role, "Arn")}


def _add_instances(
    t: Template, cfg: EnvConfig, cluster: rds.DBCluster, inputs: dict[str, Parameter], monitoring: iam.Role | None
) -> list[rds.DBInstance]:
    """The writer in the first AZ, then each reader in the next AZ round the list."""
    db = cfg.database
    insights = {"PerformanceInsightsKMSKeyId": Ref(inputs["key"])} if "key" in inputs else {}
    made = []
    for i in range(1 + db.readers):
        role = "writer" if i == 0 else f"reader{i}"
        instance = rds.DBInstance(
            "DatabaseWriter" if i == 0 else f"DatabaseReader{i}",
            DBClusterIdentifier=Ref(cluster),
            Engine=ENGINE,
            DBInstanceClass="db.serverless",
            AvailabilityZone=Select(i % cfg.network.az_count, GetAZs("")),
            # Tier 0 and 1 readers scale with the writer, so a failover lands on a warm instance.
            PromotionTier=0 if i == 0 else 1,
            PubliclyAccessible=False,
            AutoMinorVersionUpgrade=True,
            EnablePerformanceInsights=True,
            PerformanceInsightsRetentionPeriod=db.performance_insights_days,
            **insights,
            **_monitoring(cfg, monitoring),
            Tags=tags(cfg, MODULE, name(cfg, "aurora", role)),
        )
        if monitoring is None:
            skip(
                instance,
                (
                    "CKV_AWS_118",
                    "Enhanced Monitoring is off by this environment's params (the seed: minimal monitoring in dev); "
                    "Performance Insights is on",
                ),
            )
        made.append(t.add_resource(instance))
    return made


def _add_setup_sql(
    t: Template, cfg: EnvConfig, cluster: rds.DBCluster, writer: rds.DBInstance, inputs: dict[str, Parameter]
) -> awslambda.Function:
    """Lambda-backed custom resources that run the set-up SQL once the writer is available: pgvector, then roles."""
    secret_arn = GetAtt(cluster, "MasterUserSecret.SecretArn")
    key_arn = Ref(inputs["key"]) if "key" in inputs else None
    log_group = shared.log_group("PgVectorLogGroup", cfg, MODULE, "pgvector", cfg.log_retention_days, key_arn)
    t.add_resource(log_group if key_arn is not None else skip(log_group, NO_ENVIRONMENT_KEY))
    role = t.add_resource(
        shared.role(
            "PgVectorRole",
            cfg,
            MODULE,
            "pgvector",
            "runs the database's set-up SQL (pgvector, the app's roles) through the RDS Data API",
            policies.lambda_trust(),
            policies.pgvector_function(GetAtt(cluster, "DBClusterArn"), secret_arn, key_arn, GetAtt(log_group, "Arn")),
        )
    )
    function = t.add_resource(
        shared.custom_resource_function(
            "PgVectorFunction",
            cfg,
            MODULE,
            "pgvector",
            "the database's set-up SQL: pgvector and the app's roles",
            role,
            log_group,
            PGVECTOR_LAMBDA_TIMEOUT,
        )
    )
    common = {
        "ServiceToken": GetAtt(function, "Arn"),
        "ServiceTimeout": PGVECTOR_TIMEOUT,
        "ClusterArn": GetAtt(cluster, "DBClusterArn"),
        "SecretArn": secret_arn,
        "Database": cfg.database.database_name,
    }
    # CloudFormation finishes an instance only once it is available.
    extension = t.add_resource(
        PgVector("PgVectorExtension", **common, Statements=[dbaccess.EXTENSION], DependsOn=[writer])
    )
    t.add_resource(DatabaseRoles("DatabaseRoles", **common, Statements=dbaccess.statements(cfg), DependsOn=[extension]))
    return function


def _add_outputs(t: Template, cfg: EnvConfig, cluster: rds.DBCluster) -> None:
    t.add_output(Output(OUT_ENDPOINT, Description="The writer endpoint", Value=GetAtt(cluster, "Endpoint.Address")))
    t.add_output(
        Output(OUT_READER_ENDPOINT, Description="The reader endpoint", Value=GetAtt(cluster, "ReadEndpoint.Address"))
    )
    t.add_output(Output(OUT_PORT, Description="The PostgreSQL port", Value=GetAtt(cluster, "Endpoint.Port")))
    t.add_output(
        Output(
            OUT_SECRET_ARN,
            Description="The Secrets Manager secret with the master user's name and password",
            Value=GetAtt(cluster, "MasterUserSecret.SecretArn"),
        )
    )
    t.add_output(
        Output(
            OUT_CLUSTER_ARN, Description="The cluster's ARN (for the Data API)", Value=GetAtt(cluster, "DBClusterArn")
        )
    )
    t.add_output(Output(OUT_NAME, Description="The app's database", Value=cfg.database.database_name))
    t.add_output(
        Output(
            OUT_CLUSTER_RESOURCE_ID,
            Description="The cluster's resource id (IAM database authentication names the cluster by it)",
            Value=GetAtt(cluster, "DBClusterResourceId"),
        )
    )
