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
from builders.tags import tags

MODULE = "storage"

OUT_BUCKET_NAME = "DataLakeBucketName"
OUT_BUCKET_ARN = "DataLakeBucketArn"
OUT_KEY_ARN = "KmsKeyArn"
OUT_LOG_BUCKET_NAME = "AccessLogBucketName"

ACCESS_LOG_PREFIX = "datalake/"


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
                PolicyDocument=policies.access_log_bucket_policy(log_bucket, bucket, ACCESS_LOG_PREFIX),
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
                # its master-user secret and Performance Insights all use it.
                Description=f"The {name(cfg)} key: data lake, Aurora storage, its secret, Performance Insights",
                EnableKeyRotation=True,
                KeyPolicy=policies.environment_key_policy(),
                Tags=tags(cfg, MODULE, name(cfg)),
            )
        )
    )
    t.add_resource(kms.Alias("EnvironmentKeyAlias", AliasName=f"alias/{name(cfg)}", TargetKeyId=Ref(key)))
    return key


def _add_log_bucket(t: Template, cfg: EnvConfig) -> s3.Bucket | None:
    """The server-access-log bucket. S3 delivers access logs only to SSE-S3 buckets, hence AES256."""
    logging = cfg.storage.access_logging
    if not logging.enabled:
        return None
    return t.add_resource(
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
        )
    )


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
    return t.add_resource(
        shared.private_bucket(
            "DataLakeBucket", cfg, MODULE, "datalake", key, LifecycleConfiguration=_lifecycle(cfg), **extra
        )
    )


def _add_outputs(t: Template, bucket: s3.Bucket, key: kms.Key | None, log_bucket: s3.Bucket | None) -> None:
    t.add_output(Output(OUT_BUCKET_NAME, Description="The data-lake bucket", Value=Ref(bucket)))
    t.add_output(Output(OUT_BUCKET_ARN, Description="The data-lake bucket's ARN", Value=GetAtt(bucket, "Arn")))
    if key is not None:
        t.add_output(
            Output(
                OUT_KEY_ARN,
                Description="The environment's KMS key (data lake, Aurora, secrets)",
                Value=GetAtt(key, "Arn"),
            )
        )
    if log_bucket is not None:
        t.add_output(
            Output(OUT_LOG_BUCKET_NAME, Description="The bucket of the data lake's access logs", Value=Ref(log_bucket))
        )
