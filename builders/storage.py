"""The storage stack: the Parquet data lake, its optional KMS key and access-log bucket.

The bucket holds 100 GB+ that no deploy may lose: the buckets and the key are
retained on stack deletion and on replacement, and versioning keeps
overwritten objects for `noncurrent_version_expiration_days`.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Ref, Template, kms, s3

from builders import iam as policies
from builders import shared
from builders.config import EnvConfig
from builders.naming import description, name
from builders.policies import protect
from builders.regions import ELB_LOG_ACCOUNTS
from builders.scanners import skip
from builders.tags import tags

MODULE = "storage"

OUT_BUCKET_NAME = "DataLakeBucketName"
OUT_BUCKET_ARN = "DataLakeBucketArn"
OUT_KEY_ARN = "KmsKeyArn"
OUT_LOG_BUCKET_NAME = "AccessLogBucketName"

ACCESS_LOG_PREFIX = "datalake/"
ALB_LOG_PREFIX = "alb"  # the compute stack's ALB writes its access logs here (ELB adds /AWSLogs/<account>/)


def build(cfg: EnvConfig) -> Template:
    """The storage stack of one environment."""
    t = Template(Description=description(cfg, "storage: S3 data lake, encryption key, access logs"))
    key = _add_key(t, cfg)
    log_bucket = _add_log_bucket(t, cfg)
    bucket = _add_data_lake(t, cfg, key, log_bucket)
    t.add_resource(
        s3.BucketPolicy(
            "DataLakeBucketPolicy", Bucket=Ref(bucket), PolicyDocument=policies.tls_only_bucket_policy(bucket)
        )
    )
    if log_bucket is not None:
        t.add_resource(
            s3.BucketPolicy(
                "AccessLogBucketPolicy",
                Bucket=Ref(log_bucket),
                PolicyDocument=policies.access_log_bucket_policy(
                    log_bucket,
                    bucket,
                    ACCESS_LOG_PREFIX,
                    ALB_LOG_PREFIX,
                    policies.elb_log_delivery(ELB_LOG_ACCOUNTS.get(cfg.region)),
                ),
            )
        )
    _add_outputs(t, bucket, key, log_bucket)
    return t


def _add_key(t: Template, cfg: EnvConfig) -> kms.Key | None:
    if cfg.storage.encryption != "KMS":
        return None
    key = t.add_resource(
        protect(
            kms.Key(
                "EnvironmentKey",
                # One customer managed key per environment: the data lake, Aurora's storage,
                # its master-user secret, Performance Insights and the app's log groups all use it.
                Description=f"The {name(cfg)} key: data lake, Aurora storage, its secret, Performance Insights, logs",
                EnableKeyRotation=True,
                KeyPolicy=policies.environment_key_policy(),
                Tags=tags(cfg, MODULE, name(cfg)),
            )
        )
    )
    t.add_resource(kms.Alias("EnvironmentKeyAlias", AliasName=f"alias/{name(cfg)}", TargetKeyId=Ref(key)))
    return key


def _add_log_bucket(t: Template, cfg: EnvConfig) -> s3.Bucket | None:
    """The access-log bucket: the data lake's server access logs and the ALB's access logs.

    S3 and ELB deliver access logs only to SSE-S3 buckets, hence AES256.
    """
    logging = cfg.storage.access_logging
    if not logging.enabled:
        return None
    bucket = skip(
        shared.private_bucket(
            "AccessLogBucket",
            cfg,
            MODULE,
            "access-logs",
            None,  # S3 delivers access logs only to SSE-S3 buckets
            LifecycleConfiguration=s3.LifecycleConfiguration(
                Rules=[
                    s3.LifecycleRule(
                        Id="expire-access-logs",
                        Status="Enabled",
                        ExpirationInDays=logging.retention_days,
                        NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
                        AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
                    )
                ]
            ),
        ),
        ("CKV_AWS_18", "This is the access-log bucket: logging its own requests into itself would log every delivery"),
    )
    return t.add_resource(bucket)


def _lifecycle(cfg: EnvConfig) -> s3.LifecycleConfiguration:
    store = cfg.storage
    rules = [
        s3.LifecycleRule(
            Id="abort-incomplete-multipart-uploads",
            Status="Enabled",
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(
                DaysAfterInitiation=store.abort_incomplete_multipart_upload_days
            ),
        ),
        s3.LifecycleRule(
            Id="expire-noncurrent-versions",
            Status="Enabled",
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(
                NoncurrentDays=store.noncurrent_version_expiration_days
            ),
            ExpiredObjectDeleteMarker=True,
        ),
    ]
    if store.intelligent_tiering.enabled:
        rules.append(
            s3.LifecycleRule(
                Id="move-to-intelligent-tiering",
                Status="Enabled",
                Transitions=[
                    s3.LifecycleRuleTransition(
                        StorageClass="INTELLIGENT_TIERING", TransitionInDays=store.intelligent_tiering.transition_days
                    )
                ],
            )
        )
    return s3.LifecycleConfiguration(Rules=rules)


def _tiering(cfg: EnvConfig) -> list[s3.IntelligentTieringConfiguration]:
    """The opt-in archive tiers; without them Intelligent-Tiering only moves between its instant tiers."""
    tiering = cfg.storage.intelligent_tiering
    tierings = [
        s3.Tiering(AccessTier=tier, Days=days)
        for tier, days in (
            ("ARCHIVE_ACCESS", tiering.archive_access_days),
            ("DEEP_ARCHIVE_ACCESS", tiering.deep_archive_access_days),
        )
        if days is not None
    ]
    if not tiering.enabled or not tierings:
        return []
    extra = {"Prefix": tiering.archive_prefix} if tiering.archive_prefix else {}
    return [s3.IntelligentTieringConfiguration(Id="archive-tiers", Status="Enabled", Tierings=tierings, **extra)]


def _add_data_lake(t: Template, cfg: EnvConfig, key: kms.Key | None, log_bucket: s3.Bucket | None) -> s3.Bucket:
    extra: dict[str, object] = {}
    if log_bucket is not None:
        extra["LoggingConfiguration"] = s3.LoggingConfiguration(
            DestinationBucketName=Ref(log_bucket), LogFilePrefix=ACCESS_LOG_PREFIX
        )
    tierings = _tiering(cfg)
    if tierings:
        extra["IntelligentTieringConfigurations"] = tierings
    # A fixed name: the data lake is an address other systems and query engines point at.
    bucket = shared.private_bucket(
        "DataLakeBucket", cfg, MODULE, "datalake", key, LifecycleConfiguration=_lifecycle(cfg), **extra
    )
    if log_bucket is None:
        skip(bucket, ("CKV_AWS_18", "Access logging is off in this environment by its params (the seed: off in dev)"))
    return t.add_resource(bucket)


def _add_outputs(t: Template, bucket: s3.Bucket, key: kms.Key | None, log_bucket: s3.Bucket | None) -> None:
    t.add_output(Output(OUT_BUCKET_NAME, Description="The data-lake bucket", Value=Ref(bucket)))
    t.add_output(Output(OUT_BUCKET_ARN, Description="The data-lake bucket's ARN", Value=GetAtt(bucket, "Arn")))
    if key is not None:
        t.add_output(
            Output(
                OUT_KEY_ARN,
                Description="The environment's KMS key (data lake, Aurora, secrets, app logs)",
                Value=GetAtt(key, "Arn"),
            )
        )
    if log_bucket is not None:
        t.add_output(
            Output(
                OUT_LOG_BUCKET_NAME,
                Description="The bucket of the data lake's and the ALB's access logs",
                Value=Ref(log_bucket),
            )
        )
