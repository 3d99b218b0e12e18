"""A local AWS for the tests, and for trying the deploy flow by hand: moto's server on 127.0.0.1.

    python -m tests.localaws --port 5000      # then: build.py dev --deploy --endpoint-url http://127.0.0.1:5000

moto 5.2.5 runs our stacks, but not quite as CloudFormation does. Each patch
below names the gap and the real behaviour it reproduces, and has a test of
its own in tests/test_localaws.py or an end-to-end test in test_deploy_*.py.
This module is test tooling: nothing in builders/ imports it.

What it models, failures included:
- change sets: CloudFormation's rules (only AVAILABLE executes, executing drops the stack's other change sets,
  a CREATE on a REVIEW_IN_PROGRESS stack reuses it); Replacement (True / Conditional / False) and Details per
  property from each type's create-only properties (cfn-lint's registry schemas), including what changes
  through a parameter (ParameterReference) and what refers to a replaced resource (ResourceReference, Dynamic);
  a nested change set per nested stack, with the parameter values its parent passes (unknown ones Dynamic);
- creates: per-resource events; a service error, a schema violation, or a custom resource that answers FAILED
  or never answers within min(ServiceTimeout, CUSTOM_RESOURCE_TIMEOUT) fails the resource with CloudFormation's
  reason and each stack around it with "Embedded stack ... was not successfully created"; the rollback deletes
  in dependency order (DeletionPolicy Retain kept; the failed custom resource is sent a Delete) and ends
  ROLLBACK_COMPLETE, or ROLLBACK_FAILED when a delete fails;
- updates: nested stacks in place (same ARN); Replacement True makes a new resource (a custom-named one fails
  the update, as in AWS); custom resources get Update requests; a failure anywhere (UPDATE_ERRORS, a schema
  violation, a FAILED answer) rolls each stack back and leaves the root UPDATE_ROLLBACK_COMPLETE with its
  earlier template and parameters;
- deletes: dependency order, DELETE_SKIPPED for Retain and RetainResources (accepted only on DELETE_FAILED),
  custom resources get Delete requests, EC2 refuses a group another rule names and a VPC that still holds
  groups; a failure ends DELETE_FAILED with the reason and keeps what is left ("Embedded stack ... was not
  successfully deleted" up the nesting), and a later DeleteStack takes up where it stopped;
- rollback triggers: a change set's and a stack's RollbackConfiguration; a trigger in ALARM during the operation
  or the monitoring after its last resource (minutes scaled by ROLLBACK_SECONDS_PER_MINUTE), or one whose alarm
  does not exist, rolls the operation back with the alarm's ARN in the reason; DescribeAlarms's filters;
- types moto does not model (UNMODELLED): a generic provider from their registry schemas (properties
  validated, GetAtt only of readOnlyProperties);
- self-managed stack sets: each instance runs as the execution role of its account, which must exist and trust the
  administration role (else the instance fails with StackSets' "Account ... should have '<role>' role with trust
  relationship to Role '<admin>'."); its stack StackSet-<name>-<id> is created or updated (UpdateStackSet,
  UpdateStackInstances) in its own account and region through a change set, so a failing resource rolls it back
  and fails the instance naming the resource; one instance at a time, the rest CANCELLED after a failure;
  operations RUNNING, then SUCCEEDED or FAILED, one at a time per stack set (OperationInProgressException);
  CAPABILITY_(NAMED_)IAM needed for IAM resources; GitHub's OIDC provider is IAM's, one per account;
- IAM roles' permissions boundaries (one that does not exist fails the role); nested stack outputs, ids and
  names; termination protection; KMS keys; Lambda-backed custom resources run
  in-process; faults a test can inject: DATA_API_ERRORS, LOST_ANSWERS, UPDATE_ERRORS, THROTTLED, DRIFT_FAILURES,
  DRIFT_LOOKS_IN_PROGRESS;
- drift detection: one stack at a time, never into nested stacks (NOT_CHECKED), DETECTION_IN_PROGRESS before
  COMPLETE (or FAILED naming what could not be read), expected properties as the deploy resolved them against
  what the service holds now (MODIFIED with PropertyDifferences, DELETED), paged results, DriftInformation;
  refused for a stack that is *_IN_PROGRESS or does not exist.

What it still cannot show (the Stubber tests in test_deploy_units.py feed real-shaped responses instead, or
the gap is named in the patch): undoing resource settings an update had already changed before it failed;
UPDATE_ROLLBACK_FAILED and ContinueUpdateRollback; the Delete sent for an old physical id after an Update
answers a new one; "Conditional" replacements are applied in place; nested stacks that read another nested
stack's outputs are not marked as changing when that stack changes; the services' own rules beyond the
schemas (engine versions, deletion protection refusing a delete, ENIs holding a subnet); what an IAM policy
allows (moto evaluates none: the permissions boundary and the execution role are proven on the documents,
tests/test_boundary.py); DescribeEvents; drift of any type but log groups' retention and buckets' tags
(the rest is NOT_CHECKED); StackSets' OperationPreferences, parallel regions, a missing administration role,
StopStackSetOperation undoing nothing already done;
rate limits themselves.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

HOST = "127.0.0.1"  # only ever loopback
_patched = False
PATCHES: dict[str, Callable[[], None]] = {}


def patch(fn: Callable[[], None]) -> Callable[[], None]:
    PATCHES[fn.__name__] = fn
    return fn


@patch
def template_url_on_loopback() -> None:
    """Gap: a TemplateURL on 127.0.0.1 is read as virtual-hosted (the host becomes the bucket).
    Real: CloudFormation reads the S3 object the URL names; on a custom endpoint that is path-style."""
    from moto.cloudformation import models, utils

    original = utils.get_stack_from_s3_url

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        parts = urlparse(template_url)
        if parts.hostname in {HOST, "localhost"}:
            from moto.s3.models import s3_backends

            bucket, key = parts.path.lstrip("/").split("/", 1)
            return s3_backends[account_id][partition].get_object(bucket, key).value.decode("utf-8")
        return original(template_url, account_id, partition)

    utils.get_stack_from_s3_url = get_stack_from_s3_url
    models.get_stack_from_s3_url = get_stack_from_s3_url


@patch
def short_form_getatt_with_a_dotted_attribute() -> None:
    """Gap: `!GetAtt Cluster.Endpoint.Address` is split at every dot, so the attribute read is `Endpoint`.
    Real: the logical id ends at the first dot; the rest (`Endpoint.Address`) is the attribute."""
    from moto.cloudformation import models, responses, utils

    original = utils.yaml_tag_constructor

    def yaml_tag_constructor(loader: Any, tag: Any, node: Any) -> Any:
        if tag == "!GetAtt" and not isinstance(node.value, list):
            return {"Fn::GetAtt": node.value.split(".", 1)}
        return original(loader, tag, node)

    for module in (utils, models, responses):
        module.yaml_tag_constructor = yaml_tag_constructor


@patch
def nested_stack_outputs_and_ids() -> None:
    """Gaps: `!GetAtt Child.Outputs.X` answers HTTP 500 ('Stack' has no get_cfn_attribute); a nested stack's
    physical id is its bare logical name and it is named after its logical id alone, so two environments collide.
    an updated nested stack is deleted and created again (a new ARN; every resource made anew).
    Real: GetAtt reads the child's output; a nested stack's physical id is its ARN; it is named
    <parent>-<LogicalId>-<suffix>; an update changes it in place (same ARN), with events for what changed."""
    from moto.cloudformation import models, utils
    from moto.moto_api._internal import mock_random

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name.startswith("Outputs."):
            key = attribute_name.split(".", 1)[1]
            for output in self.output_map.values():
                if output and output.key == key:
                    return output.value
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    models.Stack.get_cfn_attribute = get_cfn_attribute
    models.Stack.physical_resource_id = property(lambda self: self.stack_id)

    original_create = models.Stack.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:  # fmt: skip
        backend = models.cloudformation_backends[account_id][region_name]
        parent = backend.get_stack(kwargs["StackId"]) if "StackId" in kwargs else None
        if parent is not None:
            suffix = "".join(mock_random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(12))
            resource_name = f"{parent.name}-{kwargs.get('LogicalId', resource_name)}-{suffix}"
        child = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if parent is not None:
            # Complete only once its custom resources have answered SUCCESS; FAILED or silence fails it, and the
            # failure travels up as CloudFormation's "Embedded stack ... was not successfully created".
            _await_custom_resources(child)
            _resource_events(child, "CREATE", list(child.template_dict.get("Resources", {})))
            if child.status != "CREATE_COMPLETE":
                child.mark_creation_complete()
        return child

    models.Stack.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        from moto.utilities.utils import get_partition

        child, properties = original_resource, cloudformation_json["Properties"]
        body = utils.get_stack_from_s3_url(properties["TemplateURL"], account_id, get_partition(region_name))
        parameters = dict(properties.get("Parameters") or {})
        before, after = _parsed(child.template), _parsed(body)
        changed = {k for k, v in parameters.items() if (child.parameters or {}).get(k) != v}
        child.update(body, parameters=parameters or None)
        _resource_events(child, "CREATE", [n for n in after if n not in before])
        _resource_events(child, "UPDATE", [n for n in after if n in before and (
            after[n] != before[n] or _references(after[n]) & changed)])  # fmt: skip
        child.status = "UPDATE_COMPLETE"
        return child

    models.Stack.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


def _parsed(body: str) -> dict[str, Any]:
    """A template's resources, parsed afresh as moto parses a stack's (moto changes the ones it holds)."""
    from moto.cloudformation.models import Stack

    return (Stack.parse_template(body) or {}).get("Resources", {})


UNMODELLED = {
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBClusterParameterGroup",
    "AWS::S3::BucketPolicy",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::ElasticLoadBalancingV2::ListenerRule",
    "AWS::ServiceDiscovery::HttpNamespace",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
    "AWS::WAFv2::LoggingConfiguration",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::Logs::QueryDefinition",
}


def _schema(resource_type: str, region: str = "us-east-1") -> dict[str, Any]:
    """The CloudFormation registry schema of a type, as cfn-lint ships it (empty for a type it does not know)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        return PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # noqa: BLE001 - an unknown type (Custom::*), or a region cfn-lint has no schemas for
        return {}


def _paths(schema: dict[str, Any], key: str) -> set[str]:
    """A schema's property-path list (readOnlyProperties, createOnlyProperties) as dotted names under Properties."""
    return {
        p.removeprefix("/properties/").replace("/", ".") for p in schema.get(key) or [] if p.startswith("/properties/")
    }


@functools.cache
def _validator(resource_type: str) -> Any:
    """A JSON-schema validator for the type's properties that takes a template's strings for numbers and booleans
    (parameters are strings, and CloudFormation converts them to the schema's type before the handler sees them)."""
    import jsonschema

    def coerced(kind: str, pattern: str) -> Callable[[Any, Any], bool]:
        base = jsonschema.Draft7Validator.TYPE_CHECKER

        def check(checker: Any, value: Any) -> bool:
            return base.is_type(value, kind) or (isinstance(value, str) and re.fullmatch(pattern, value) is not None)

        return check

    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine_many({
        "integer": coerced("integer", r"-?\d+"),
        "number": coerced("number", r"-?\d+(\.\d+)?"),
        "boolean": coerced("boolean", r"true|false"),
    })  # fmt: skip

    def pattern(validator: Any, wanted: str, instance: Any, schema: Any) -> Any:
        # The schemas' patterns are Java regular expressions (\p{Print}, ...): `regex` reads them, `re` does not.
        import regex

        if validator.is_type(instance, "string") and not regex.search(wanted, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {wanted!r}")

    kind = jsonschema.validators.extend(jsonschema.Draft7Validator, validators={"pattern": pattern},
                                        type_checker=checker)  # fmt: skip
    return kind(_schema(resource_type), format_checker=None)


TYPE_NAMES = {"integer": "Integer", "number": "Number", "boolean": "Boolean", "string": "String", "array": "JSONArray",
              "object": "JSONObject"}  # fmt: skip


def validation_errors(resource_type: str, properties: dict[str, Any]) -> list[str]:
    """What CloudFormation says of properties that break the type's schema, in its own words (#/Path: ...)."""
    errors = []
    for error in sorted(_validator(resource_type).iter_errors(properties), key=lambda e: list(e.absolute_path)):
        where = "#" + "".join(f"/{p}" for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1]
            errors.append(f"{where}: required key [{missing}] not found")
        elif error.validator == "additionalProperties":
            for extra in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
                errors.append(f"{where}: extraneous key [{extra}] is not permitted")
        elif error.validator == "type":
            wanted = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
            found = {bool: "Boolean", int: "Integer", float: "Number", str: "String", list: "JSONArray",
                     dict: "JSONObject"}.get(type(error.instance), "Null")  # fmt: skip
            errors.append(f"{where}: expected type: {TYPE_NAMES.get(wanted, wanted)}, found: {found}")
        else:
            errors.append(f"{where}: failed validation constraint for keyword [{error.validator}]")
    return errors


class PropertiesInvalid(Exception):
    """A resource's properties break its type's schema: it fails as CloudFormation fails it."""

    def __init__(self, logical_id: str, errors: list[str]) -> None:
        self.message = f"Properties validation failed for resource {logical_id} with message: [{', '.join(errors)}]"
        super().__init__(self.message)


class _Registered:
    """A resource of a type moto does not model, driven by its registry schema (see unmodelled_resource_types)."""

    def __init__(self, resource_type: str, name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        self.resource_type = resource_type
        self.name = name
        self.properties = properties
        self.account_id = account_id
        self.region = region

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    def get_cfn_attribute(self, attribute: str) -> str:
        if attribute not in _paths(_schema(self.resource_type), "readOnlyProperties"):
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        service, kind = self.resource_type.split("::")[1].lower(), self.resource_type.split("::")[-1].lower()
        arn = f"arn:aws:{service}:{self.region}:{self.account_id}:{kind}:{self.name}"
        secret = f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:rds!{self.name}"
        known = {
            "Arn": arn,
            "DBClusterArn": arn,
            "DBInstanceArn": arn,
            "RuleArn": arn,
            "Endpoint.Address": f"{self.name}.cluster-local.{self.region}.rds.amazonaws.com",
            "ReadEndpoint.Address": f"{self.name}.cluster-ro-local.{self.region}.rds.amazonaws.com",
            "Endpoint.Port": "5432",
            "MasterUserSecret.SecretArn": secret,
            # RDS's form: "cluster-" and 26 upper-case letters and digits, fixed for the cluster's life.
            "DBClusterResourceId": "cluster-" + hashlib.sha256(arn.encode()).hexdigest()[:26].upper(),
        }
        return known.get(attribute, f"{self.name}-{attribute.replace('.', '-')}")


def _registered_class(resource_type: str) -> type:
    from moto.core.common_models import CloudFormationModel

    def checked(logical_id: str, cloudformation_json: Any) -> dict[str, Any]:
        properties = cloudformation_json.get("Properties", {}) or {}
        errors = validation_errors(resource_type, properties)
        if errors:
            raise PropertiesInvalid(logical_id, errors)
        return properties

    class Registered(CloudFormationModel):  # type: ignore[misc]
        # moto files each model under a service named after its module (`tests.localaws` -> "localaws"); under
        # `python -m tests.localaws` the module is `__main__`, which has no second part (IndexError).
        __module__ = "tests.localaws"

        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in _paths(_schema(resource_type), "readOnlyProperties")

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:  # fmt: skip
            properties = checked(kwargs.get("LogicalId", resource_name), cloudformation_json)
            return _Registered(resource_type, resource_name, properties, account_id, region_name)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            properties = checked(getattr(original_resource, "logical_resource_id", new_resource_name),
                                 cloudformation_json)  # fmt: skip
            create_only = _paths(_schema(resource_type), "createOnlyProperties")
            old = original_resource.properties
            if any(old.get(key) != properties.get(key) for key in create_only if "." not in key):
                # Replacement: a new resource (a new physical id); CloudFormation deletes the old one at cleanup.
                return _Registered(resource_type, new_resource_name, properties, account_id, region_name)
            original_resource.properties = properties
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> None:
            return None

    return Registered


def _model_types(classes: dict[str, type] | Callable[[str], type | None]) -> None:
    """Let moto's template parser make these resource types with these classes (the others as before): the one
    way the patches below give moto a type it lacks or models wrongly. `classes` maps a type to its class, or is
    called with the type for its class (None: moto's own)."""
    from moto.cloudformation import parsing

    original = parsing.resource_class_from_type
    pick = classes.get if isinstance(classes, dict) else classes

    def resource_class_from_type(resource_type: str) -> Any:
        return pick(resource_type) or original(resource_type)

    parsing.resource_class_from_type = resource_class_from_type


@patch
def refs_that_answer_none() -> None:
    """Gap: `Ref` to an AWS::RDS::DBSubnetGroup answers null (the model has no physical id), which a property that
    takes it passes on as null. Real: Ref gives the subnet group's name (generated, lower-case)."""
    from moto.rds.models import DBSubnetGroup

    DBSubnetGroup.physical_resource_id = property(lambda self: self.name)


@patch
def acm_certificates_validated_by_dns() -> None:
    """Gap: moto's CloudFormation has no AWS::CertificateManager::Certificate, so a listener given one fails with
    "Supplied certificate was not found".
    Real: CloudFormation requests the certificate and, given a HostedZoneId per domain, writes ACM's validation
    CNAME into that zone and finishes once ACM has issued it; a zone that does not exist fails the resource
    (NoSuchHostedZone). Ref gives the ARN. Still not shown: a certificate without a HostedZoneId, for which
    CloudFormation waits until someone validates it (days), and a validation that ACM refuses."""
    from moto.acm.models import acm_backends
    from moto.route53.models import route53_backends
    from moto.utilities.utils import get_partition

    kind = "AWS::CertificateManager::Certificate"
    generic = _registered_class(kind)

    class Certificate(generic):  # type: ignore[misc, valid-type]
        __module__ = "tests.localaws"  # see _registered_class

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:  # fmt: skip
            made = super().create_from_cloudformation_json(
                resource_name, cloudformation_json, account_id, region_name, **kwargs
            )  # fmt: skip  (validates the properties)
            acm = acm_backends[account_id][region_name]
            wanted = made.properties
            arn = acm.request_certificate(wanted["DomainName"], None, wanted.get("SubjectAlternativeNames") or [], [])
            certificate = acm.get_certificate(arn)
            zones = route53_backends[account_id][get_partition(region_name)]
            for option in wanted.get("DomainValidationOptions") or []:
                record = _validation_record(certificate, option["DomainName"])
                zones.change_resource_record_sets(option["HostedZoneId"], [{"Action": "UPSERT", "ResourceRecordSet": {
                    "Name": record["Name"], "Type": "CNAME", "TTL": 300,
                    "ResourceRecords": [{"Value": record["Value"]}]}}])  # fmt: skip
            certificate.status = "ISSUED"  # ACM sees the record; CloudFormation finishes the resource then
            made.name = arn
            return made

        def delete(self, account_id: str, region_name: str) -> None:
            acm_backends[account_id][region_name].delete_certificate(self.name)

    _model_types({kind: Certificate})


class _AlarmResource(_Registered):
    """An alarm made from a template: its ARN is ...:alarm:<name>, a composite's too."""

    def get_cfn_attribute(self, attribute: str) -> str:
        if attribute == "Arn":
            return f"arn:aws:cloudwatch:{self.region}:{self.account_id}:alarm:{self.name}"
        return super().get_cfn_attribute(attribute)

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


@patch
def cloudwatch_alarms_from_cloudformation() -> None:
    """Gap: moto's CloudFormation has no AWS::CloudWatch::Alarm or CompositeAlarm: a template's alarms are
    skipped without a word, so DescribeAlarms finds none and nothing can watch them.
    Real: CloudFormation makes the alarm (Ref: its name; GetAtt Arn), in state INSUFFICIENT_DATA until its metric
    has data; a composite alarm's rule may name only alarms that exist. Here the alarm is put into moto's
    CloudWatch with its name, metric or metric math, threshold, actions and rule, so DescribeAlarms and
    SetAlarmState see it, and it goes with its stack. Still not shown: CloudWatch evaluating a metric (moto has
    no data to evaluate; tests set states with SetAlarmState); composites follow their members by
    composite_alarms_follow_their_members."""
    from moto.cloudwatch.models import MetricDataQuery, cloudwatch_backends

    def put(properties: dict[str, Any], account_id: str, region_name: str) -> None:
        backend = cloudwatch_backends[account_id][region_name]
        rule = properties.get("AlarmRule")
        if rule is not None:
            named = re.findall(r'ALARM\("([^"]+)"\)', rule)
            unknown = [n for n in named if n not in backend.alarms]
            if unknown:
                raise ServiceError(f"Could not save the composite alarm as alarms in the alarm rule do not exist: "
                                   f"{unknown}")  # fmt: skip
        queries = [
            MetricDataQuery(
                query_id=q["Id"],
                label=q.get("Label", ""),
                period=q.get("Period"),
                return_data=q.get("ReturnData", True),
                expression=q.get("Expression"),
                metric_stat=None,
            )  # fmt: skip  (the expression is what the alarm watches)
            for q in properties.get("Metrics") or []
        ]
        backend.put_metric_alarm(
            name=properties["AlarmName"], namespace=properties.get("Namespace"),
            metric_name=properties.get("MetricName"), comparison_operator=properties.get("ComparisonOperator"),
            evaluation_periods=properties.get("EvaluationPeriods"), period=properties.get("Period"),
            threshold=properties.get("Threshold"), statistic=properties.get("Statistic"),
            description=properties.get("AlarmDescription"),
            dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in properties.get("Dimensions") or []],
            alarm_actions=properties.get("AlarmActions") or [], metric_data_queries=queries or None,
            datapoints_to_alarm=properties.get("DatapointsToAlarm"),
            extended_statistic=properties.get("ExtendedStatistic"), ok_actions=properties.get("OKActions") or [],
            treat_missing_data=properties.get("TreatMissingData"), rule=rule,
        )  # fmt: skip

    classes = {}
    for kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
        generic = _registered_class(kind)

        class AlarmModel(generic):  # type: ignore[misc, valid-type]
            __module__ = "tests.localaws"  # see _registered_class

            @classmethod
            def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                                region_name: str, **kwargs: Any) -> Any:  # fmt: skip
                made = super().create_from_cloudformation_json(resource_name, cloudformation_json, account_id,
                                                               region_name, **kwargs)  # fmt: skip
                made.properties.setdefault("AlarmName", resource_name)
                put(made.properties, account_id, region_name)
                made.name = made.properties["AlarmName"]  # Ref and the ARN name the alarm
                made.__class__ = _AlarmResource
                return made

            @classmethod
            def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                                cloudformation_json: Any, account_id: str,
                                                region_name: str) -> Any:  # fmt: skip
                made = super().update_from_cloudformation_json(
                    original_resource, new_resource_name, cloudformation_json, account_id, region_name
                )
                made.properties.setdefault("AlarmName", original_resource.name)
                put(made.properties, account_id, region_name)
                made.name = made.properties["AlarmName"]
                return made

            def delete(self, account_id: str, region_name: str) -> None:
                cloudwatch_backends[account_id][region_name].delete_alarms([self.name])

        classes[kind] = AlarmModel

    _model_types(classes)


_RULE_TOKEN = re.compile(
    r'\s*(?:(ALARM|OK|INSUFFICIENT_DATA)\(\s*(?:"([^"]+)"|([^\s()"]+))\s*\)|(TRUE|FALSE|AND|OR|NOT)\b|([()]))'
)


def _rule_tokens(rule: str) -> list[tuple[str, str]]:
    """A composite alarm's AlarmRule as (kind, value) tokens; ValueError for anything else in it (AT_LEAST, say,
    which CloudWatch has and no template here uses, so it fails loudly rather than being read wrong)."""
    tokens, at = [], 0
    while at < len(rule.rstrip()):
        match = _RULE_TOKEN.match(rule, at)
        if match is None:
            raise ValueError(f"cannot read the alarm rule at {rule[at : at + 30]!r}")
        state, quoted, bare, word, paren = match.groups()
        if state:
            member = quoted or bare
            tokens.append(("state", f"{state}:{member.rsplit(':alarm:', 1)[-1]}"))  # a name or an alarm's ARN
        else:
            tokens.append(("word", word or paren))
        at = match.end()
    return tokens


def _rule_true(tokens: list[tuple[str, str]], states: dict[str, str]) -> bool:
    """The rule's value over the members' states: NOT binds tighter than AND, AND tighter than OR."""
    at = 0

    def take(word: str) -> bool:
        nonlocal at
        if at < len(tokens) and tokens[at] == ("word", word):
            at += 1
            return True
        return False

    def atom() -> bool:
        nonlocal at
        if take("NOT"):
            return not atom()
        if take("("):
            value = either()
            if not take(")"):
                raise ValueError("unbalanced parentheses in the alarm rule")
            return value
        if take("TRUE"):
            return True
        if take("FALSE"):
            return False
        if at < len(tokens) and tokens[at][0] == "state":
            state, member = tokens[at][1].split(":", 1)
            at += 1
            return states.get(member) == state
        raise ValueError(f"unexpected {tokens[at][1] if at < len(tokens) else 'end'} in the alarm rule")

    def both() -> bool:
        value = atom()
        while take("AND"):
            value = atom() and value
        return value

    def either() -> bool:
        value = both()
        while take("OR"):
            value = both() or value
        return value

    value = either()
    if at != len(tokens):
        raise ValueError(f"unexpected {tokens[at][1]} in the alarm rule")
    return value


def _members(tokens: list[tuple[str, str]]) -> list[str]:
    return [value.split(":", 1)[1] for kind, value in tokens if kind == "state"]


@patch
def composite_alarms_follow_their_members() -> None:
    """Gaps: a composite alarm's state never follows its rule (it stays where it was made or set), and every
    new alarm starts OK, so a composite that should page never does and an alarm nobody has data for looks fine.
    Real (PutMetricAlarm, PutCompositeAlarm and the composite alarms user guide): a new metric alarm starts
    INSUFFICIENT_DATA ("Unchecked: Initial alarm creation") and an updated one keeps its state; a composite is
    ALARM when its rule (ALARM/OK/INSUFFICIENT_DATA of member names or ARNs, TRUE, FALSE, AND, OR, NOT,
    parentheses) is true and OK when false, re-evaluated whenever a member's state changes, composites of
    composites included, its reason naming the member that moved it; SetAlarmState on a composite holds only
    until the next evaluation. Still not shown: AT_LEAST and the other rule functions (a rule using them is
    refused here, not read wrong), actions suppression, the alarm history of a composite, and the actions
    themselves (no SNS message is sent for a state change)."""
    from moto.cloudwatch.models import CloudWatchBackend

    def settle(backend: Any, moved: str) -> None:
        """Re-evaluate the composites until none changes (a composite of composites moves in a later pass)."""
        for _ in range(len(backend.alarms) + 1):
            changed = False
            for alarm in list(backend.alarms.values()):
                if alarm.rule is None:
                    continue
                tokens = _rule_tokens(alarm.rule)
                states = {n: a.state_value for n, a in backend.alarms.items()}
                state = "ALARM" if _rule_true(tokens, states) else "OK"
                if state != alarm.state_value:
                    member = next((m for m in _members(tokens) if m == moved), moved)
                    when = time.strftime("%A %d %B, %Y %H:%M:%S UTC", time.gmtime())
                    reason = f"{backend.alarms[member].alarm_arn if member in backend.alarms else member} " \
                             f"transitioned to {states.get(member, 'ALARM')} at {when}"  # fmt: skip
                    alarm.update_state(reason, json.dumps({"triggeringAlarms": [member]}), state)
                    moved, changed = alarm.name, True
            if not changed:
                return

    original_put = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        rule = kwargs.get("rule")
        if rule is not None:
            try:
                _rule_tokens(rule)
            except ValueError as exc:
                from moto.cloudwatch.exceptions import ValidationError

                raise ValidationError(f"Invalid alarm rule: {exc}") from None
        before = self.alarms.get(name)
        made = original_put(self, name, *args, **kwargs)
        if before is not None:  # an update keeps the state it had
            made.state_value, made.state_reason = before.state_value, before.state_reason
            made.state_reason_data, made.state_updated_timestamp = (
                before.state_reason_data,
                before.state_updated_timestamp,
            )
            made.history = before.history
        elif rule is None:
            made.state_value = "INSUFFICIENT_DATA"
        settle(self, name)
        return made

    CloudWatchBackend.put_metric_alarm = put_metric_alarm
    original_set = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
        original_set(self, alarm_name, reason, reason_data, state_value)
        if self.alarms[alarm_name].rule is None:
            settle(self, alarm_name)

    CloudWatchBackend.set_alarm_state = set_alarm_state


def _validation_record(certificate: Any, domain: str) -> dict[str, str]:
    """ACM's DNS validation record for one domain of a certificate, as DescribeCertificate gives it."""
    for option in certificate.describe()["Certificate"].get("DomainValidationOptions", []):
        if option["DomainName"] == domain:
            return option["ResourceRecord"]
    raise KeyError(domain)


@patch
def hosted_zone_ids_like_route53() -> None:
    """Gap: a hosted zone's id is 22 random characters (moto's own comment says they look like Z1RWWTK7Y8UDDQ).
    Real: Route 53 zone ids start with Z, which the params' domain.hosted_zone_id check relies on."""
    from moto.route53 import models

    def generate(self: Any, existing_ids: Any = None, tags: Any = None) -> str:
        return "Z" + models.create_route53_zone_id(resource_identifier=self, existing_ids=existing_ids, tags=tags)[1:]

    models.HostedZoneIdentifier.generate = generate


@patch
def unmodelled_resource_types() -> None:
    """Gap: moto's CloudFormation has no model for some of our types (DBCluster, BucketPolicy, autoscaling), or one
    that fails on our properties (an aurora-postgresql DBInstance answers 500, KeyError), and a template that
    reads their attributes fails to parse.
    Real: CloudFormation's registry provider for each type. Here a generic one driven by the type's registry schema
    (cfn-lint ships them): properties are validated against it (required, types, enums, patterns, no unknown keys;
    a template's strings pass for numbers and booleans, as CloudFormation converts them), and a violation fails
    the resource with "Properties validation failed for resource X with message: [#/Path: ...]"; GetAtt answers
    only the schema's readOnlyProperties, with well-formed values (an ARN, an RDS endpoint), and any other
    attribute is a template error; a change to a create-only property makes a new resource (a new physical id).
    Still not shown: the service's own rules beyond the schema (an engine version that does not exist, deletion
    protection refusing a delete), and anything the resource does (there is no RDS cluster behind it; the tests
    read its settings in the templates)."""
    from moto.cloudformation import models
    from moto.cloudformation.exceptions import ValidationError

    _model_types(lambda resource_type: _registered_class(resource_type) if resource_type in UNMODELLED else None)
    original_create = models.CloudFormationBackend.create_change_set

    def create_change_set(self: Any, stack_name: str, change_set_name: str, template: str, *args: Any,
                          **kwargs: Any) -> Any:  # fmt: skip
        template_dict = models.Stack.parse_template(template) or {}
        resources = template_dict.get("Resources") or {}
        for name, attribute in sorted(_getatts([resources, template_dict.get("Outputs") or {}])):
            kind = resources.get(name, {}).get("Type")
            if kind in UNMODELLED and attribute not in _paths(_schema(kind), "readOnlyProperties"):
                raise ValidationError(
                    stack_name, message=f"Template error: resource {name} does not support attribute type "
                    f"{attribute} in Fn::GetAtt"
                )  # fmt: skip
        return original_create(self, stack_name, change_set_name, template, *args, **kwargs)

    models.CloudFormationBackend.create_change_set = create_change_set


def _getatts(value: Any) -> set[tuple[str, str]]:
    """Every (resource, attribute) a template value reads with Fn::GetAtt."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Fn::GetAtt":
                name, attribute = inner if isinstance(inner, list) else str(inner).split(".", 1)
                if isinstance(name, str) and isinstance(attribute, str):
                    found.add((name, attribute))
            else:
                found |= _getatts(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _getatts(inner)
    return found


STATEMENTS: list[tuple[str, str]] = []  # (cluster ARN, SQL) of every RDS Data API statement, for the tests
ANSWERS: list[tuple[str, str]] = []  # (logical id, Status) of every custom-resource answer the receiver got
# Faults a test may set, each a failure AWS can really produce (cleared by start()):
DATA_API_ERRORS: list[tuple[str, str, str]] = []  # (SQL substring, error code, message): the statement fails
LOST_ANSWERS: set[str] = set()  # logical ids whose custom-resource answer never reaches CloudFormation
# logical id -> the service's error: updating that resource fails, in whichever nested stack it is, when the stack
# holding it is updated (as an ECS service whose new task definition is refused, say)
UPDATE_ERRORS: dict[str, str] = {}
# CloudFormation API action -> how many more calls of it answer Throttling ("Rate exceeded"), as a busy account does
THROTTLED: dict[str, int] = {}
# How long CloudFormation waits for a custom resource: its ServiceTimeout (default one hour), but at most this many
# seconds here (LOCALAWS_CUSTOM_RESOURCE_TIMEOUT), so that a lost answer fails a test in seconds, not an hour.
CUSTOM_RESOURCE_TIMEOUT = float(os.environ.get("LOCALAWS_CUSTOM_RESOURCE_TIMEOUT", "20"))


class CustomResourceFailed(Exception):
    """A custom resource answered FAILED, or not at all: its create fails with CloudFormation's reason."""

    def __init__(self, message: str, trail: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.message = message
        self.localaws_trail = trail


def _await_custom_resources(stack: Any) -> None:
    """Wait, as CloudFormation does, for each custom resource of `stack` to answer; raise on FAILED or silence."""
    for logical_id, custom in list(stack.custom_resources.items()):
        resource_json = stack.resource_map._resource_json_map.get(logical_id, {})
        _await_answer(stack.stack_id, logical_id, resource_json, custom)


def _await_answer(stack_id: str, logical_id: str, resource_json: dict[str, Any], custom: Any) -> None:
    """Wait for one custom resource's answer to the request it was last sent.

    Real: CloudFormation waits up to the resource's ServiceTimeout (an hour by default) for the answer at its
    response URL; FAILED fails the resource with the Reason sent; no answer fails it when the time is up.
    """
    resource_type = resource_json.get("Type", "AWS::CloudFormation::CustomResource")
    service_timeout = float(resource_json.get("Properties", {}).get("ServiceTimeout", 3600))
    deadline = time.monotonic() + min(service_timeout, CUSTOM_RESOURCE_TIMEOUT)
    trail = [(stack_id, logical_id, resource_type)]
    while not custom.is_created() and getattr(custom, "localaws_failed", None) is None:
        if time.monotonic() > deadline:
            raise CustomResourceFailed(
                "CloudFormation did not receive a response from your Custom Resource. Please check your logs "
                f"for requestId [{custom.request_id}].",
                trail,
            )
        time.sleep(0.05)
    failed = getattr(custom, "localaws_failed", None)
    if failed is not None:
        raise CustomResourceFailed(
            f"Received response status [FAILED] from custom resource. Message returned: {failed} "
            f"(RequestId: {custom.request_id})",
            trail,
        )


@patch
def custom_resources_get_update_and_delete_requests() -> None:
    """Gaps: a custom resource whose properties change is never sent an Update (moto drops the resource: its
    GetAtt then answers null), a deleted one is never sent a Delete, and the PhysicalResourceId the function
    answers is ignored.
    Real: CloudFormation sends Update (with OldResourceProperties and the PhysicalResourceId) and Delete requests
    to the ServiceToken and waits for each answer as for Create: FAILED or silence fails the update (which then
    rolls back) or the delete (DELETE_FAILED); the answer's PhysicalResourceId is the resource's physical id.
    Also a gap: moto sends every Create and waits for the answers only once the whole stack is made, so a custom
    resource that DependsOn another may run first; CloudFormation waits for each answer before its dependents.
    Still not shown: the Delete CloudFormation sends for the old physical id when an Update answers a new one."""
    import uuid

    from moto.awslambda.utils import get_backend as get_lambda_backend
    from moto.cloudformation.custom_model import CustomModel

    original_create = CustomModel.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:  # fmt: skip
        custom = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        custom.localaws_request = {"StackId": kwargs["StackId"], "ResourceType": kwargs["ResourceType"],
                                   "LogicalResourceId": kwargs["LogicalId"],
                                   "ResourceProperties": cloudformation_json["Properties"]}  # fmt: skip
        custom.localaws_account = account_id
        # Wait here, not once the whole stack is made: CloudFormation creates what depends on a custom resource
        # (DependsOn, Ref, GetAtt) only after its answer, so a second resource's request follows the first's.
        try:
            _await_answer(kwargs["StackId"], kwargs["LogicalId"], {"Type": kwargs["ResourceType"],
                          "Properties": cloudformation_json["Properties"]}, custom)  # fmt: skip
        except CustomResourceFailed:
            # Still the stack's: the rollback sends it a Delete, as CloudFormation does for a failed create.
            from moto.cloudformation.models import cloudformation_backends

            stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
            stack.resource_map._parsed_resources[kwargs["LogicalId"]] = custom
            raise
        return custom

    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    def send(custom: Any, kind: str, properties: dict[str, Any]) -> None:
        request = custom.localaws_request
        custom.request_id, custom._finished, custom.localaws_failed = str(uuid.uuid4()), False, None
        event = {**request, "RequestType": kind, "RequestId": custom.request_id, "ResourceProperties": properties,
                 "ServiceToken": properties["ServiceToken"], "PhysicalResourceId": custom.physical_resource_id,
                 "ResponseURL": "rewritten by lambda_runs_inline_python"}  # fmt: skip
        if kind == "Update":
            event["OldResourceProperties"] = request["ResourceProperties"]
        function = get_lambda_backend(custom.localaws_account, custom.region_name).get_function(
            properties["ServiceToken"]
        )
        threading.Thread(target=function.invoke, args=(json.dumps(event), {}, {}), daemon=True).start()
        _await_answer(request["StackId"], request["LogicalResourceId"], {"Type": request["ResourceType"],
                      "Properties": properties}, custom)  # fmt: skip

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        send(original_resource, "Update", properties)
        original_resource.localaws_request["ResourceProperties"] = properties
        return original_resource

    CustomModel.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)

    def delete(self: Any, account_id: str, region_name: str) -> None:
        if getattr(self, "localaws_request", None) is not None:
            send(self, "Delete", self.localaws_request["ResourceProperties"])

    CustomModel.delete = delete


class _LambdaContext:
    log_stream_name = "local/[$LATEST]localaws"

    def __init__(self, seconds: int) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


@patch
def lambda_runs_inline_python() -> None:
    """Gap: invoking a function needs docker (absent here), so a Lambda-backed custom resource never answers.
    Real: Lambda runs the function. Here its inline Python runs in-process with the same event, a context
    whose remaining time is the function's timeout, and the cfnresponse module Lambda gives inline code; its AWS
    calls go to this server, in the function's own account (as its execution role's credentials would: without
    that, a stack in a second account had its custom resources look in the first) and its own region (Lambda sets
    AWS_REGION to it, so boto3.client("ec2") with no region calls the function's region: without that, a stack in
    eu-west-1 had its custom resource look for its security group in us-east-1, and fail). The RDS Data API
    answers every statement with no rows (as moto does) and the statements are recorded in STATEMENTS."""
    import io
    import zipfile

    from moto.awslambda.models import LambdaFunction
    from moto.rdsdata.models import RDSDataServiceBackend

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        module, function = self.handler.rsplit(".", 1)
        with zipfile.ZipFile(io.BytesIO(self.code_bytes)) as archive:
            source = archive.read(f"{module}.py").decode("utf-8")
        namespace: dict[str, Any] = {"__name__": module}
        sys.modules.setdefault("cfnresponse", _cfnresponse())  # what Lambda gives inline (ZipFile) Python code
        exec(compile(source, f"{module}.py", "exec"), namespace)  # noqa: S102 - the function under test
        event = json.loads(body) if body else {}
        if "ResponseURL" in event:
            # moto addresses the answer to host.docker.internal, for a docker Lambda; real CloudFormation gives a
            # pre-signed S3 URL. Here the answer goes to the receiver on loopback, which hands it to moto.
            event["ResponseURL"] = f"http://{HOST}:{_receiver_port()}/cfnresponse"
        _IN_ACCOUNT.value, _IN_ACCOUNT.region = self.account_id, self.region
        try:
            result = namespace[function](event, _LambdaContext(int(self.timeout)))
        finally:
            _IN_ACCOUNT.value = _IN_ACCOUNT.region = None
        return json.dumps(result).encode()

    import boto3

    default_client = boto3.client

    def client(*args: Any, **kwargs: Any) -> Any:
        """boto3.client as inline code running on this thread sees it: the function's region unless it names one."""
        region = getattr(_IN_ACCOUNT, "region", None)
        if region and len(args) < 2 and "region_name" not in kwargs:
            kwargs["region_name"] = region
        return default_client(*args, **kwargs)

    boto3.client = client

    def own_account(request: Any, **_: Any) -> None:
        account = getattr(_IN_ACCOUNT, "value", None)
        if account:
            request.headers["x-moto-account-id"] = account

    boto3._get_default_session().events.register("before-sign.*.*", own_account)  # the clients inline code makes
    LambdaFunction.invoke = invoke
    original = RDSDataServiceBackend.execute_statement

    def execute_statement(self: Any, resource_arn: str, sql: str) -> Any:
        STATEMENTS.append((resource_arn, sql))
        for fragment, code, message in DATA_API_ERRORS:
            if fragment in sql:
                from moto.core.exceptions import JsonRESTError

                raise JsonRESTError(code, message)
        return original(self, resource_arn, sql)

    RDSDataServiceBackend.execute_statement = execute_statement


_IN_ACCOUNT = threading.local()  # the account and region of the Lambda function running on this thread, if any


def _cfnresponse() -> Any:
    """The cfnresponse module Lambda provides to inline Python code, with AWS's published behaviour: send()
    PUTs the answer as JSON to the ResponseURL; the physical id defaults to the log stream's name, and the
    reason to "See the details in CloudWatch Log Stream: <stream>"."""
    import types

    module = types.ModuleType("cfnresponse")
    module.SUCCESS, module.FAILED = "SUCCESS", "FAILED"

    def send(event: dict[str, Any], context: Any, status: str, data: dict[str, Any],
             physical_id: str | None = None, no_echo: bool = False, reason: str | None = None) -> None:  # fmt: skip
        body = json.dumps({
            "Status": status,
            "Reason": reason or f"See the details in CloudWatch Log Stream: {context.log_stream_name}",
            "PhysicalResourceId": physical_id or context.log_stream_name,
            "StackId": event["StackId"], "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"], "NoEcho": no_echo, "Data": data,
        }).encode()  # fmt: skip
        request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except Exception as error:  # noqa: BLE001 - AWS's module prints the failure and returns
            print(f"send(..) failed executing request.urlopen(..): {error}")

    module.send = send
    return module


_receiver: Any = None


def _receiver_port() -> int:
    """Start (once) the HTTP receiver that plays CloudFormation's response URL, and return its port."""
    global _receiver
    if _receiver is None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Receiver(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                answer = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                ANSWERS.append((answer["LogicalResourceId"], answer["Status"]))
                if answer["LogicalResourceId"] not in LOST_ANSWERS:
                    from moto.cloudformation.models import cloudformation_backends

                    for account in cloudformation_backends.values():
                        for backend in account.values():
                            stack = backend.stacks.get(answer["StackId"])
                            if stack is None:
                                continue
                            custom = stack.get_custom_resource(answer["LogicalResourceId"])
                            if answer["Status"] == "SUCCESS":  # what moto's own cfnresponse handler does
                                custom.resource_name = answer.get("PhysicalResourceId") or custom.resource_name
                                custom.set_data(answer.get("Data") or {})
                            else:  # moto ignores FAILED; CloudFormation fails the resource with the Reason
                                custom.localaws_failed = answer.get("Reason") or "no reason given"
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        _receiver = ThreadingHTTPServer((HOST, 0), Receiver)
        threading.Thread(target=_receiver.serve_forever, daemon=True).start()
    return _receiver.server_port


def _resource_events(stack: Any, kind: str, names: list[str]) -> None:
    """Per-resource events, as CloudFormation writes them, for every resource an operation touched."""
    for name in names:
        resource = stack.resource_map._parsed_resources.get(name)
        resource_type = stack.resource_map._resource_json_map.get(name, {}).get("Type", "")
        physical = str(getattr(resource, "physical_resource_id", "") or "") if resource is not None else ""
        for status in (f"{kind}_IN_PROGRESS", f"{kind}_COMPLETE"):
            _event(stack, name, physical, resource_type, status, None)


def _event(stack: Any, logical_id: str, physical: str, resource_type: str, status: str, reason: str | None) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
              physical_resource_id=physical, resource_type=resource_type, resource_status=status,
              resource_status_reason=reason, resource_properties=None)
    )  # fmt: skip


@patch
def execute_change_set_like_cloudformation() -> None:
    """Gaps: after execution the stack keeps no template, parameters or outputs (Outputs never appear); only
    stack-level events are written.
    Real: the stack then has the change set's template, parameters and outputs; every resource gets its own
    events. (Which change sets may execute: change_set_rules.)"""
    from moto.cloudformation import models

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)  # AVAILABLE: change_set_rules checks that first
        stack = self.stacks[change_set.stack_id]
        kind = "CREATE" if change_set.change_set_type == "CREATE" else "UPDATE"
        stack._add_stack_event(f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")
        changes = {
            a: [c.logical_resource_id for c in change_set.changes if c.action == a] for a in ("Add", "Modify", "Remove")
        }
        if kind == "CREATE":
            stack.template = change_set.template
            stack._parse_template()
            stack.parameters = change_set.parameters
            stack.resource_map = stack._create_resource_map()
            stack.resource_map.create(stack.template_dict)
            _await_custom_resources(stack)
            _resource_events(stack, "CREATE", list(stack.template_dict.get("Resources", {})))
        else:
            change_set.apply()  # a failure: a_failed_update_rolls_back
            stack.template = change_set.template
            stack._parse_template()
            stack.parameters = change_set.parameters
            _resource_events(stack, "CREATE", changes["Add"])
            _resource_events(stack, "UPDATE", changes["Modify"])
        stack.output_map = stack._create_output_map()
        stack._add_stack_event(f"{kind}_COMPLETE")
        stack.status = f"{kind}_COMPLETE"
        change_set.execution_status = "EXECUTE_COMPLETE"

    models.CloudFormationBackend.execute_change_set = execute_change_set


@patch
def change_set_rules() -> None:
    """Gaps: a CREATE change set always makes a new stack, even beside a live stack of the same name or one in
    REVIEW_IN_PROGRESS; executing one leaves the stack's other change sets; a change set that is not AVAILABLE is
    refused with ValidationError.
    Real: a CREATE change set on a stack in REVIEW_IN_PROGRESS goes on that stack (its change sets share it), and
    on any other live stack is AlreadyExistsException; executing a change set deletes the stack's other change
    sets; only an AVAILABLE one executes, else InvalidChangeSetStatus. ListChangeSets lists every stack's
    change sets; it lists only the named stack's."""
    from moto.cloudformation import models
    from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError

    class InvalidChangeSetStatus(CloudFormationError):
        code = "InvalidChangeSetStatus"

    original_create = models.CloudFormationBackend.create_change_set

    def create_change_set(self: Any, stack_name: str, change_set_name: str, *args: Any, **kwargs: Any) -> Any:
        kind = kwargs.get("change_set_type", args[4] if len(args) > 4 else "UPDATE")
        live = [s for s in self.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"]
        if kind != "CREATE" or not live:
            return original_create(self, stack_name, change_set_name, *args, **kwargs)
        existing = live[0]
        if existing.status != "REVIEW_IN_PROGRESS":
            raise AlreadyExistsException(f"Stack [{stack_name}] already exists")
        change_set_id, new_stack_id = original_create(self, stack_name, change_set_name, *args, **kwargs)
        self.stacks.pop(new_stack_id, None)  # moto's duplicate: the change set goes on the waiting stack
        change_set = self.change_sets[change_set_id]
        change_set.stack, change_set.stack_id = existing, existing.stack_id
        return change_set_id, existing.stack_id

    models.CloudFormationBackend.create_change_set = create_change_set
    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        if change_set.execution_status != "AVAILABLE":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current status of "
                f"[{change_set.status}]"
            )
        others = [cs_id for cs_id, cs in self.change_sets.items() if cs.stack_id == change_set.stack_id
                  and cs_id != change_set.change_set_id]  # fmt: skip
        try:
            original_execute(self, change_set_name, stack_name)
        finally:  # CloudFormation drops them as the execution starts, whether or not it then succeeds
            for cs_id in others:
                self.change_sets.pop(cs_id, None)

    models.CloudFormationBackend.execute_change_set = execute_change_set
    from moto.cloudformation import responses
    from moto.core.responses import ActionResult

    def list_change_sets(self: Any) -> Any:  # Real: only the change sets of the stack named (required)
        wanted = self._get_param("StackName")
        stacks = {s.stack_id for s in self.cloudformation_backend.stacks.values() if wanted in {s.name, s.stack_id}}
        found = [cs for cs in self.cloudformation_backend.list_change_sets() if cs.stack_id in stacks]
        return ActionResult({"Summaries": found})

    responses.CloudFormationResponse.list_change_sets = list_change_sets


PSEUDO = ("AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::StackId")


def _create_only(resource_type: str, region: str) -> set[str]:
    """The top-level properties a resource type cannot change in place, from its registry schema; none for a type
    without a schema (custom resources)."""
    return {p.split(".")[0] for p in _paths(_schema(resource_type, region), "createOnlyProperties")}


def _dynamic(value: Any) -> bool:
    """Whether a property value depends on something known only during the deploy (a Ref or GetAtt of a resource
    or parameter, a Sub that names one); pseudo parameters like AWS::Region are known before."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"] not in PSEUDO
        if "Fn::GetAtt" in value or "Fn::ImportValue" in value:
            return True
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            names = [n for n in re.findall(r"\$\{([^}!]+)\}", text) if n not in PSEUDO]
            return bool(names) or (not isinstance(value["Fn::Sub"], str) and _dynamic(value["Fn::Sub"][1]))
        return any(_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(_dynamic(v) for v in value)
    return False


def _details(
    resource_type: str, region: str, old: dict[str, Any], new: dict[str, Any], causes: dict[str, tuple[str, str]]
) -> tuple[str, list[Any]]:
    """Replacement (True, Conditional, False) and Details of a Modify, property by property, as CloudFormation
    computes them: a changed create-only property replaces (Static) or may replace (Dynamic: its new value is
    known only during the deploy); any other change is in place. A property whose text is the same but that names
    something in `causes` changes too: name -> (ChangeSource, Evaluation), for a parameter whose value changed
    (ParameterReference, Static), one a parent computes from a resource it is changing (ParameterReference,
    Dynamic), or a resource being replaced, whose new id is known only during the deploy (ResourceReference,
    Dynamic)."""
    create_only = _create_only(resource_type, region)
    details, replacement = [], "False"
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            named = sorted(_references(new.get(key)) & set(causes))
            sources = [(causes[n][1], {"ChangeSource": causes[n][0], "CausingEntity": n}) for n in named]
        else:
            sources = [("Dynamic" if _dynamic(new.get(key)) else "Static", {"ChangeSource": "DirectModification"})]
        requires = "Always" if key in create_only else "Never"
        for evaluation, source in sources:
            details.append({"Target": {"Attribute": "Properties", "Name": key, "RequiresRecreation": requires},
                            "Evaluation": evaluation, **source})  # fmt: skip
            if requires == "Always":
                replacement = "True" if evaluation == "Static" or replacement == "True" else "Conditional"
    return replacement, details


def _spread(
    new: dict[str, Any], old: dict[str, Any], region: str, modified: list[str], causes: dict[str, tuple[str, str]]
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """`modified` and, after them, every existing resource that changes because it names a cause (a changed
    parameter) or a resource being replaced; and the causes with those replaced resources added."""
    modified, causes = list(modified), dict(causes)
    while True:
        for name in modified:
            if name in old and name in new and name not in causes:
                mine = {k: v for k, v in causes.items() if k != name}
                replacement, _ = _details(new[name].get("Type", ""), region, old[name].get("Properties", {}),
                                          new[name].get("Properties", {}), mine)  # fmt: skip
                if replacement != "False":
                    causes[name] = ("ResourceReference", "Dynamic")
        more = [n for n in new if n in old and n not in modified and _references(new[n]) & set(causes)]
        if not more:
            return modified, causes
        modified += more


@patch
def references_to_a_replaced_resource_change() -> None:
    """Gap: a resource that refers to one being replaced is left alone (an ECS service keeps the task definition a
    new image tag replaced), so it is neither in the change set nor updated.
    Real: the new resource has a new id, so each resource that refers to it (Ref, GetAtt, Sub) is modified too, its
    change marked Dynamic (ResourceReference), and is updated after it; and so on down the references."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.build_resource_diff

    def build_resource_diff(self: Any, other_template: dict[str, Any], parameters: Any = None) -> dict[str, Any]:
        actions = original(self, other_template, parameters)
        before = self.input_parameters or {}
        causes = {k: ("ParameterReference", "Static") for k, v in (parameters or {}).items() if before.get(k) != v}
        old, new = self._resource_json_map, other_template.get("Resources", {})
        actions["Modify"], _ = _spread(new, old, self._region_name, actions["Modify"], causes)
        return actions

    ResourceMap.build_resource_diff = build_resource_diff


def _same_name(physical: str, name: Any) -> bool:
    """Whether a resource's physical id is the custom name it asked for (a bucket's name, a queue's URL)."""
    return isinstance(name, str) and bool(name) and (physical == name or physical.endswith(("/" + name, ":" + name)))


@patch
def replacement_makes_a_new_resource() -> None:
    """Gap: an update that changes a create-only property (the change set says Replacement True) is applied in
    place: the queue keeps its old name, a bucket its old settings, and what refers to it its old id.
    Real: CloudFormation creates the new resource, points what refers to it at the new one, and deletes the old
    one at the end; if the resource has a custom name that did not change (a fixed BucketName, say), the update
    fails: "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename ... and
    update the stack again." Conditional replacements are applied in place here (AWS decides during the deploy)."""
    from moto.cloudformation import models, parsing

    original_update = parsing.parse_and_update_resource

    def parse_and_update_resource(logical_id: str, resource_json: Any, resources_map: Any, **kwargs: Any) -> Any:
        if logical_id not in getattr(resources_map, "localaws_replace", ()):
            return original_update(logical_id, resource_json, resources_map, **kwargs)
        old = resources_map._parsed_resources.get(logical_id)
        physical = str(getattr(old, "physical_resource_id", "") or "")
        kind = resource_json.get("Type", "")
        properties = resource_json.get("Properties") or {}
        named = getattr(parsing.resource_class_from_type(kind), "cloudformation_name_type", lambda: "")()
        for key in [named] + [p.removeprefix("/properties/") for p in _schema(kind).get("primaryIdentifier") or []]:
            name = parsing.clean_json(properties[key], resources_map) if key in properties else None
            if _same_name(physical, name):
                raise ServiceError(
                    "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename "
                    f"{name} and update the stack again."
                )
        new = parsing.parse_and_create_resource(logical_id, resource_json, resources_map, **kwargs)
        if old is not None and not isinstance(old, str):
            resources_map._delete_resource(old, resource_json)  # CloudFormation's cleanup step
        return new

    parsing.parse_and_update_resource = parse_and_update_resource
    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)

        def mark(stack: Any, changes: list[Any]) -> None:  # what each stack's update replaces, nested ones too
            stack.resource_map.localaws_replace = {
                c.logical_resource_id for c in changes if getattr(c, "replacement", "") == "True"
            }
            for change in changes:
                nested = self.change_sets.get(getattr(change, "change_set_id", None) or "")
                if nested is not None and nested is not change_set:
                    mark(nested.stack, nested.changes)

        if change_set.change_set_type == "UPDATE":
            mark(change_set.stack, change_set.changes)
        return original_execute(self, change_set_name, stack_name)

    models.CloudFormationBackend.execute_change_set = execute_change_set


@patch
def change_sets_with_replacement_and_nested_change_sets() -> None:
    """Gap: a Modify carries no Replacement, Scope or Details, and a nested stack's change is one row with no
    nested change set, so a change that would replace the data lake or the Aurora cluster inside a nested stack
    looked like "Modify Database AWS::CloudFormation::Stack" (the guard could not see it).
    Real: each Modify says Replacement True / Conditional / False with Details per property (RequiresRecreation
    from the type's create-only properties); with IncludeNestedStacks each nested stack that changes gets its own
    change set (its own ResourceChanges, or FAILED "didn't contain changes"), linked by ChangeSetId.
    Still not modelled: parameter values a parent passes to a nested stack are taken as unchanged (AWS may mark
    properties that use them Dynamic), and properties that replace only under conditions (AWS's "Conditionally")."""
    from moto.cloudformation import models, utils
    from moto.utilities.utils import get_partition

    original_diff = models.ChangeSet.diff

    def diff(self: Any) -> list[Any]:
        changes = original_diff(self)  # with the resources that refer to replaced ones: see the patch above
        old_resources = (getattr(self.stack, "template_dict", None) or {}).get("Resources", {})
        new_resources = self.template_dict.get("Resources", {})
        region = self.stack.region_name
        before = dict(getattr(self.stack, "parameters", None) or {}) if self.change_set_type == "UPDATE" else {}
        unknown = set(getattr(self, "localaws_unknown", ()))  # a nested change set's parameters set by its parent
        causes = {k: ("ParameterReference", "Static") for k, v in (self.parameters or {}).items()
                  if k not in unknown and before.get(k, v) != v}  # fmt: skip
        causes |= {k: ("ParameterReference", "Dynamic") for k in unknown}
        # moto's change sets leave out what changes through a parameter, and what refers to that
        modified = [c.logical_resource_id for c in changes if c.action == "Modify"]
        spread, causes = _spread(new_resources, old_resources, region, modified, causes)
        changes += [models.Change("Modify", n, new_resources[n].get("Type", "")) for n in spread[len(modified) :]]
        changing = {c.logical_resource_id for c in changes if c.action in ("Add", "Modify")}
        for change in changes:
            if change.action != "Modify":
                continue
            old = old_resources.get(change.logical_resource_id, {})
            new = new_resources.get(change.logical_resource_id, {})
            own = {k: v for k, v in causes.items() if k != change.logical_resource_id}
            change.replacement, change.details = _details(
                change.resource_type, region, old.get("Properties", {}), new.get("Properties", {}), own
            )
            change.scope = ["Properties"] if change.details else []
            if change.resource_type == "AWS::CloudFormation::Stack":
                nested = _nested_change_set(self, change.logical_resource_id, new.get("Properties", {}), changing)
                if nested is not None:
                    change.change_set_id = nested.change_set_id
        return changes

    def _nested_change_set(parent: Any, logical_id: str, properties: dict[str, Any], changing: set[str]) -> Any:
        child = parent.stack.resource_map._parsed_resources.get(logical_id)
        url = properties.get("TemplateURL")
        if not isinstance(child, models.Stack) or not isinstance(url, str):
            return None
        account, region = parent.stack.account_id, parent.stack.region_name
        body = utils.get_stack_from_s3_url(url, account, get_partition(region))
        name = f"{parent.change_set_name}-{logical_id}"[:128]
        # The values the parent passes: a parameter of the parent gives its new value; a value computed from a
        # resource the parent is changing is not known until the deploy; anything else is what it was.
        parameters, unknown = dict(child.parameters or {}), set()
        for key, value in (properties.get("Parameters") or {}).items():
            if isinstance(value, str):
                parameters[key] = value
            elif isinstance(value, dict) and value.get("Ref") in (parent.parameters or {}):
                parameters[key] = parent.parameters[value["Ref"]]
            elif _references(value) & changing:
                unknown.add(key)
        nested = models.ChangeSet.__new__(models.ChangeSet)
        nested.localaws_unknown = unknown  # read by diff(), which the constructor runs
        nested.__init__(
            change_set_type="UPDATE",
            change_set_id=utils.generate_changeset_id(name, region, account),
            change_set_name=name,
            stack=child,
            template=body,
            parameters=parameters,
            description=f"nested change set of {parent.change_set_name}",
        )
        if nested.changes:
            nested.status, nested.execution_status = "CREATE_COMPLETE", "AVAILABLE"
        else:
            nested.status, nested.execution_status = "FAILED", "UNAVAILABLE"
            nested.status_reason = "The submitted information didn't contain changes. Submit different information."
        models.cloudformation_backends[account][region].change_sets[nested.change_set_id] = nested
        return nested

    models.ChangeSet.diff = diff


def _roll_back_update(root: Any, trail: list[tuple[Any, str, str]], reason: str) -> None:
    """An update that fails at the bottom of `trail`, written as CloudFormation writes it, and rolled back.

    Real: the resource gets UPDATE_FAILED with the service's reason; each nested stack around it rolls back
    (UPDATE_ROLLBACK_IN_PROGRESS ... UPDATE_ROLLBACK_COMPLETE) and fails its parent's resource with "Embedded
    stack ... was not successfully updated"; the root ends UPDATE_ROLLBACK_COMPLETE with its earlier template,
    parameters and outputs. Here each stack gets its template, parameters and resource map back, but a resource
    that moto had already updated before the failure keeps its new settings (AWS would update it back).
    """
    for depth, (stack, logical_id, resource_type) in enumerate(trail):
        own = stack.resource_map._parsed_resources.get(logical_id)
        physical = trail[depth - 1][0].stack_id if depth else str(getattr(own, "physical_resource_id", logical_id))
        if depth:
            reason = (
                f"Embedded stack {physical} was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS "
                f"with reason: The following resource(s) failed to update: [{trail[depth - 1][1]}]."
            )
        if stack is not root:
            stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="")
        _event(stack, logical_id, physical, resource_type, "UPDATE_IN_PROGRESS", "")
        _event(stack, logical_id, physical, resource_type, "UPDATE_FAILED", reason)
        stack._add_stack_event(
            "UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) failed to update: "
            f"[{logical_id}]. "
        )  # fmt: skip
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"


def _roll_back_create(backend: Any, trail: list[tuple[str, str, str]], reason: str) -> None:
    """Fail the resource at the bottom of `trail`, fail each stack around it, delete what they had created.

    Real: the rollback deletes what the create made, in dependency order, the failed custom resource included
    (it is sent a Delete); if a delete fails, the nested stack ends DELETE_FAILED, its parent's resource fails with
    "Embedded stack ... was not successfully deleted", and the root ends ROLLBACK_FAILED."""
    for depth, (stack_id, logical_id, resource_type) in enumerate(trail):
        stack = backend.stacks[stack_id]
        created = [
            name
            for name in stack.resource_map._parsed_resources
            if name in stack.template_dict["Resources"] and name != logical_id  # the one that failed never completed
        ]
        _resource_events(stack, "CREATE", created)
        child = trail[depth - 1][0] if depth else ""
        why = (
            f"Embedded stack {child} was not successfully created: The following resource(s) failed to create: "
            f"[{trail[depth - 1][1]}]. " if depth else reason
        )  # fmt: skip
        _event(stack, logical_id, child, resource_type, "CREATE_IN_PROGRESS", "")
        _event(stack, logical_id, child, resource_type, "CREATE_FAILED", why)
        failed = f"The following resource(s) failed to create: [{logical_id}]. "
        nested = depth < len(trail) - 1
        stack._add_stack_event(
            "CREATE_FAILED" if nested else "ROLLBACK_IN_PROGRESS",
            resource_status_reason=failed + ("" if nested else "Rollback requested by user."),
        )
        stuck = _delete_all(stack)  # DeletionPolicy Retain is kept, as CloudFormation keeps it
        below = backend.stacks.get(child) if child else None
        if below is not None and below.status == "DELETE_FAILED":  # the nested stack below could not be deleted
            _event(stack, logical_id, child, resource_type, "DELETE_FAILED",
                   f"Embedded stack {child} was not successfully deleted: {below.status_reason}")  # fmt: skip
            stuck = sorted([*stuck, logical_id])
            stack.resource_map._parsed_resources[logical_id] = below  # still the parent's: a later delete retries it
        if stuck:
            stack.status_reason = f"The following resource(s) failed to delete: [{', '.join(stuck)}]. "
            stack.status = "DELETE_FAILED" if nested else "ROLLBACK_FAILED"
            stack._add_stack_event(stack.status, resource_status_reason=stack.status_reason)
        elif nested:  # the parent's rollback deletes the nested stack that failed
            stack._add_stack_event("DELETE_COMPLETE")
            stack.status = "DELETE_COMPLETE"
            backend.deleted_stacks[stack_id] = backend.stacks.pop(stack_id)
        else:
            stack._add_stack_event("ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"


def _with_trail(original: Callable[..., Any], faults: dict[str, str] | None = None) -> Callable[..., Any]:
    """moto's parse_and_create_resource or parse_and_update_resource, whose errors carry the trail of where they
    happened, innermost first: the resource that failed, then the nested stack resources around it (a resource
    made on demand by a Ref from another of the same stack is not "around" it, so it is not added). `faults`:
    logical id -> the error that resource answers (UPDATE_ERRORS)."""

    def wrapper(logical_id: str, resource_json: Any, resources_map: Any, **kwargs: Any) -> Any:
        try:
            if faults is not None and logical_id in faults:
                raise ServiceError(faults[logical_id])
            return original(logical_id, resource_json, resources_map, **kwargs)
        except Exception as error:
            trail = error.__dict__.setdefault("localaws_trail", [])
            if not trail or trail[-1][0] != resources_map.stack_id:
                trail.append((resources_map.stack_id, logical_id, resource_json.get("Type", "")))
            raise

    return wrapper


@patch
def a_failed_create_rolls_back() -> None:
    """Gap: an error while creating a resource answers ExecuteChangeSet with HTTP 500, leaves the stack
    CREATE_IN_PROGRESS forever and writes no event saying what failed.
    Real: ExecuteChangeSet succeeds; the resource gets CREATE_FAILED with the service's reason; each stack around
    it fails with "Embedded stack ... was not successfully created"; the root rolls back, deleting what was
    created (DeletionPolicy Retain kept), and ends ROLLBACK_COMPLETE. (A failed update is not modelled.)"""
    from moto.cloudformation import models, parsing

    parsing.parse_and_create_resource = _with_trail(parsing.parse_and_create_resource)
    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        try:
            return original_execute(self, change_set_name, stack_name)
        except Exception as error:
            change_set = self.describe_change_set(change_set_name)
            trail = error.__dict__.get("localaws_trail")
            if not trail or change_set.change_set_type != "CREATE":
                raise
            _roll_back_create(self, trail, str(getattr(error, "message", "") or error))
            change_set.execution_status = "EXECUTE_COMPLETE"

    models.CloudFormationBackend.execute_change_set = execute_change_set


class ServiceError(Exception):
    """An error a service answers (an injected fault): the resource fails with it as its reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _snapshot(stack: Any) -> Callable[[], None]:
    """What an update changes on a stack in moto, and a function that puts it back (for a rollback)."""
    resource_map = stack.resource_map
    saved = (stack.template, stack.template_dict, stack.parameters, stack.status, len(stack.events),
             resource_map._template, resource_map._resource_json_map, resource_map.input_parameters)  # fmt: skip
    resolved = dict(resource_map.resolved_parameters)  # changed in place by an update, and read by DescribeStacks
    values = {k: resource_map._parsed_resources[k] for k in resolved if k in resource_map._parsed_resources}

    def restore() -> None:
        (stack.template, stack.template_dict, stack.parameters, stack.status, events, resource_map._template,
         resource_map._resource_json_map, resource_map.input_parameters) = saved  # fmt: skip
        del stack.events[events:]
        resource_map.resolved_parameters.clear()
        resource_map.resolved_parameters.update(resolved)
        resource_map._parsed_resources.update(values)

    return restore


@patch
def a_failed_update_rolls_back() -> None:
    """Gap: an error while updating a resource answers ExecuteChangeSet with HTTP 500 and leaves the stack
    UPDATE_IN_PROGRESS; moto retries it (a nested stack several times over, each try half-applied).
    Real: the resource gets UPDATE_FAILED with the service's reason, each nested stack around it rolls back and
    fails its resource in the parent with "Embedded stack ... was not successfully updated", and the root ends
    UPDATE_ROLLBACK_COMPLETE with its earlier template and parameters (_roll_back_update). The failure may be a
    schema violation (unmodelled_resource_types), any error moto raises, or a fault a test injects: UPDATE_ERRORS
    fails the named resource when it is updated, that is, when its stack's change touches it."""
    from moto.cloudformation import models, parsing

    parsing.parse_and_update_resource = _with_trail(parsing.parse_and_update_resource, faults=UPDATE_ERRORS)
    original_nested = models.Stack.update_from_cloudformation_json.__func__

    def update_nested(cls: Any, original_resource: Any, *args: Any, **kwargs: Any) -> Any:
        restore = _snapshot(original_resource)
        try:
            return original_nested(cls, original_resource, *args, **kwargs)
        except Exception:
            restore()  # moto retries a failed resource: each try starts from the stack as it was
            raise

    models.Stack.update_from_cloudformation_json = classmethod(update_nested)
    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks.get(change_set.stack_id)
        restore = _snapshot(stack) if stack is not None and change_set.change_set_type == "UPDATE" else None
        try:
            return original_execute(self, change_set_name, stack_name)
        except Exception as error:
            trail = error.__dict__.get("localaws_trail")
            if not trail or restore is None:
                raise
            restore()
            stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
            stacks = [(self.stacks[stack_id], logical_id, kind) for stack_id, logical_id, kind in trail]
            _roll_back_update(stack, stacks, _error_text(error))
            change_set.execution_status = "EXECUTE_COMPLETE"
            return None

    models.CloudFormationBackend.execute_change_set = execute_change_set


# How long CloudFormation's monitoring of rollback triggers lasts here: MonitoringTimeInMinutes times this many
# seconds (LOCALAWS_ROLLBACK_SECONDS_PER_MINUTE), so that a 10-minute watch takes a second, not ten minutes.
ROLLBACK_SECONDS_PER_MINUTE = float(os.environ.get("LOCALAWS_ROLLBACK_SECONDS_PER_MINUTE", "0.1"))
ALARM_POLL = 0.1  # seconds between looks at the triggers' alarms


def _trigger_alarm(arn: str) -> Any:
    """The moto alarm a trigger's ARN (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>) names, or None."""
    from moto.cloudwatch.models import cloudwatch_backends

    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[2] != "cloudwatch" or parts[5] != "alarm":
        return None
    return cloudwatch_backends[parts[4]][parts[3]].alarms.get(parts[6])


def _nested_stacks(stack: Any) -> list[Any]:
    """Every nested stack under `stack`, at any depth."""
    from moto.cloudformation.models import Stack

    found = []
    for resource in list(stack.resource_map._parsed_resources.values()):
        if isinstance(resource, Stack):
            found += [resource, *_nested_stacks(resource)]
    return found


def _roll_back_on_trigger(stack: Any, kind: str, reason: str, restores: list[tuple[Any, Callable[[], None]]]) -> None:
    """A create or update that a rollback trigger stops: the stack rolls back, with `reason` naming the alarm.

    An update's stacks get their earlier template, parameters and outputs back (events kept) and end
    UPDATE_ROLLBACK_COMPLETE; a create deletes what it made (DeletionPolicy Retain kept) and ends
    ROLLBACK_COMPLETE."""
    if kind == "UPDATE":
        stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
        for each, restore in restores:  # the root first, then each nested stack, before the root completes
            events, status = list(each.events), each.status
            restore()
            each.events[:] = events
            if each is not stack and status != each.status:  # a nested stack this update changed
                each._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason="")
                each._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
                each.status = "UPDATE_ROLLBACK_COMPLETE"
        stack.output_map = stack._create_output_map()
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        return
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    stuck = _delete_all(stack)
    stack.status = "ROLLBACK_FAILED" if stuck else "ROLLBACK_COMPLETE"
    stack._add_stack_event(stack.status)


def _firing(arns: list[str]) -> list[str]:
    return [arn for arn in arns if (alarm := _trigger_alarm(arn)) is not None and alarm.state_value == "ALARM"]


def _monitor(stack: Any, kind: str, arns: list[str], minutes: int,
             restores: list[tuple[Any, Callable[[], None]]]) -> None:  # fmt: skip
    """CloudFormation's monitoring period after the last resource: the stack stays CREATE_ or UPDATE_IN_PROGRESS;
    a trigger in ALARM rolls the operation back, and when the time is up an update cleans up and completes."""
    deadline = time.monotonic() + minutes * ROLLBACK_SECONDS_PER_MINUTE
    while True:
        firing = _firing(arns)
        if firing:
            _roll_back_on_trigger(stack, kind, _trigger_reason(firing), restores)
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(ALARM_POLL)
    if kind == "UPDATE":
        stack._add_stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    stack._add_stack_event(f"{kind}_COMPLETE")
    stack.status = f"{kind}_COMPLETE"


def _trigger_reason(arns: list[str]) -> str:
    """The stack event's reason for a rollback a trigger set off; it names each alarm by its ARN."""
    return f"Rollback triggered by alarm(s) in ALARM state: [{', '.join(arns)}]"


@patch
def rollback_triggers_watch_alarms() -> None:
    """Gaps: CreateChangeSet drops RollbackConfiguration (DescribeChangeSet and DescribeStacks never show it),
    and no operation is ever watched: an alarm in ALARM changes nothing, and a trigger naming an alarm that does
    not exist is accepted. DescribeAlarms applies only the first of AlarmNamePrefix, AlarmNames and StateValue it
    is given, and answers composite alarms without AlarmTypes asking for them; PutCompositeAlarm is missing.
    Real (the user guide's "rollback triggers", the RollbackConfiguration and RollbackTrigger API pages): the
    change set keeps its RollbackConfiguration (at most 5 triggers; 0-180 minutes), and so does the stack, which
    applies it to every later operation that names none (an empty list clears it). CloudFormation watches the
    triggers during the operation and for MonitoringTimeInMinutes after its last resource (minutes are
    ROLLBACK_SECONDS_PER_MINUTE seconds here), the stack staying CREATE_ or UPDATE_IN_PROGRESS all that while;
    a trigger in ALARM (one already in ALARM when the operation starts too) rolls the operation back: an update to
    UPDATE_ROLLBACK_COMPLETE on its earlier template and parameters, a create to ROLLBACK_COMPLETE; a trigger
    whose alarm is missing fails the operation the same way. Once the time is up an update cleans up
    (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS) and completes. DescribeAlarms applies every filter it is given, and
    without AlarmTypes answers metric alarms only; PutCompositeAlarm makes an alarm with an AlarmRule.
    Still not shown: AWS's exact words in the rollback's reason (here the stack's ROLLBACK_IN_PROGRESS or
    UPDATE_ROLLBACK_IN_PROGRESS names each alarm by its ARN, which is what the deploy reads); an alarm going off
    while the resources are still being made (moto makes them all within ExecuteChangeSet, so the watch begins
    after the last one); resources a rolled-back update had changed keep their new settings (as in
    a_failed_update_rolls_back), and Remove changes happen before the watch, not in the cleanup after it;
    any alarm's evaluation of its metrics (moto evaluates none: tests set states with SetAlarmState, and
    composites follow by composite_alarms_follow_their_members); INSUFFICIENT_DATA never rolls back, here as in AWS."""
    from moto.cloudformation import models, responses
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    original_create = responses.CloudFormationResponse.create_change_set

    def create_change_set(self: Any) -> Any:
        wanted = self._get_param("RollbackConfiguration")
        if wanted is not None:
            triggers = wanted.get("RollbackTriggers") or []
            minutes = int(wanted.get("MonitoringTimeInMinutes") or 0)
            if len(triggers) > 5 or not 0 <= minutes <= 180:
                raise ValidationError(
                    self._get_param("StackName"),
                    message="RollbackConfiguration takes at most 5 rollback triggers and 0 to 180 minutes",
                )
        answer = original_create(self)
        name, stack_name = self._get_param("ChangeSetName"), self._get_param("StackName")
        backend = self.cloudformation_backend
        made = [cs for cs in backend.change_sets.values()
                if cs.change_set_name == name and stack_name in (cs.stack_name, cs.stack_id)]  # fmt: skip
        if made:
            stack = made[-1].stack
            kept = getattr(stack, "rollback_configuration", None)
            made[-1].rollback_configuration = wanted if wanted is not None else kept
        return answer

    responses.CloudFormationResponse.create_change_set = create_change_set
    original_execute = models.CloudFormationBackend.execute_change_set

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        config = getattr(change_set, "rollback_configuration", None) or {}
        arns = [t["Arn"] for t in config.get("RollbackTriggers") or []]
        stack = self.stacks.get(change_set.stack_id)
        if stack is None or not arns or change_set.execution_status != "AVAILABLE":
            original_execute(self, change_set_name, stack_name)
            if stack is not None and getattr(change_set, "rollback_configuration", None) is not None:
                stack.rollback_configuration = change_set.rollback_configuration
            return None
        stack.rollback_configuration = config
        kind = "CREATE" if change_set.change_set_type == "CREATE" else "UPDATE"
        missing = [arn for arn in arns if _trigger_alarm(arn) is None]
        firing = _firing(arns)
        if missing or firing:  # the operation fails before its first resource, as CloudFormation fails it
            others = [cs_id for cs_id, cs in self.change_sets.items() if cs.stack_id == stack.stack_id]
            for cs_id in others:
                if cs_id != change_set.change_set_id:
                    self.change_sets.pop(cs_id, None)
            change_set.execution_status = "EXECUTE_COMPLETE"
            stack._add_stack_event(f"{kind}_IN_PROGRESS", resource_status_reason="User Initiated")
            reason = f"Rollback trigger(s) not found: [{', '.join(missing)}]" if missing else _trigger_reason(firing)
            _roll_back_on_trigger(stack, kind, reason, [(stack, _snapshot(stack))] if kind == "UPDATE" else [])
            return None
        restores = [(s, _snapshot(s)) for s in [stack, *_nested_stacks(stack)]] if kind == "UPDATE" else []
        original_execute(self, change_set_name, stack_name)
        if stack.status != f"{kind}_COMPLETE":
            return None  # failed already, and rolled back for its own reason
        if stack.events and stack.events[-1].resource_status == f"{kind}_COMPLETE":
            stack.events.pop()  # it completes after the monitoring, not now
        stack.status = f"{kind}_IN_PROGRESS"
        minutes = int(config.get("MonitoringTimeInMinutes") or 0)
        threading.Thread(target=_monitor, args=(stack, kind, arns, minutes, restores), daemon=True).start()
        return None

    models.CloudFormationBackend.execute_change_set = execute_change_set

    def describe_alarms(self: Any) -> Any:
        backend = self.cloudwatch_backend
        alarms = list(backend.describe_alarms())
        prefix, names = self._get_param("AlarmNamePrefix"), self._get_param("AlarmNames", [])
        state, action = self._get_param("StateValue"), self._get_param("ActionPrefix")
        kinds = self._get_param("AlarmTypes") or ["MetricAlarm"]
        if prefix:
            alarms = [a for a in alarms if a.name.startswith(prefix)]
        if names:
            alarms = [a for a in alarms if a.name in names]
        if state:
            alarms = [a for a in alarms if a.state_value == state]
        if action:
            alarms = [a for a in alarms if a in list(backend.get_alarms_by_action_prefix(action))]
        metric = [a for a in alarms if a.rule is None] if "MetricAlarm" in kinds else []
        composite = [a for a in alarms if a.rule is not None] if "CompositeAlarm" in kinds else []
        return ActionResult({"MetricAlarms": metric, "CompositeAlarms": composite})

    CloudWatchResponse.describe_alarms = describe_alarms
    CloudWatchResponse.put_composite_alarm = CloudWatchResponse.put_metric_alarm  # it keeps the AlarmRule given


def _references(value: Any) -> set[str]:
    """The names a template value refers to (Ref, GetAtt, the ${X} of a Sub): what must outlive it in a delete."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found |= {n.split(".", 1)[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(inner, str):
                    found |= _references(inner[1])
            else:
                found |= _references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _references(inner)
    return found


def _error_text(error: BaseException) -> str:
    return str(getattr(error, "message", "") or error)


def _delete_all(stack: Any) -> list[str]:
    """Delete a stack's resources as CloudFormation does (a delete, or a rollback); return those that failed.

    Real: a resource goes only once nothing still standing depends on it (DependsOn, Ref, GetAtt, Sub);
    DeletionPolicy Retain and the RetainResources of the request are skipped (DELETE_SKIPPED); a resource whose
    delete fails gets DELETE_FAILED with the service's reason and what depends on it is left standing; the stack
    ends DELETE_FAILED, "The following resource(s) failed to delete: [...]", and keeps what is left, so a later
    DeleteStack (after the cause is fixed, or retaining the failed resources) takes up where this one stopped.
    """
    resource_map = stack.resource_map
    templates = resource_map._resource_json_map or {}
    retain = set(getattr(stack, "localaws_retain", ()))
    stack.localaws_retain = set()
    standing = {
        name for name in templates if resource_map._parsed_resources.get(name) is not None
        and not isinstance(resource_map._parsed_resources[name], str)
    }  # fmt: skip
    needs = {name: (_references(body) | set(_as_list(body.get("DependsOn")))) & set(templates)
             for name, body in templates.items()}  # fmt: skip
    failed: list[str] = []
    while True:
        ready = sorted(
            n for n in standing - set(failed) if not any(n in needs[other] for other in standing if other != n)
        )
        if not ready:
            break
        for name in ready:
            resource, body = resource_map._parsed_resources[name], templates[name]
            physical, kind = str(getattr(resource, "physical_resource_id", "") or ""), body.get("Type", "")
            if body.get("DeletionPolicy") == "Retain" or name in retain:
                _event(stack, name, physical, kind, "DELETE_SKIPPED", None)
            else:
                _event(stack, name, physical, kind, "DELETE_IN_PROGRESS", None)
                try:
                    resource_map._delete_resource(resource, body)
                except Exception as error:  # noqa: BLE001 - any service error fails the resource, as in AWS
                    _event(stack, name, physical, kind, "DELETE_FAILED", _error_text(error))
                    failed.append(name)
                    continue
                _event(stack, name, physical, kind, "DELETE_COMPLETE", None)
            resource_map._parsed_resources.pop(name, None)
            standing.discard(name)
    return sorted(failed)


def _delete_resources(stack: Any) -> list[str]:
    """DeleteStack on one stack (see _delete_all); return the logical ids that failed (none: deleted)."""
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack.status = "DELETE_IN_PROGRESS"
    failed = _delete_all(stack)
    if failed:
        reason = f"The following resource(s) failed to delete: [{', '.join(failed)}]. "
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
        stack.status, stack.status_reason = "DELETE_FAILED", reason
        return failed
    stack._add_stack_event("DELETE_COMPLETE")
    stack.status = "DELETE_COMPLETE"
    return []


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


@patch
def a_failed_delete_ends_delete_failed() -> None:
    """Gaps: a resource whose delete fails is skipped and retried in a loop, and if it still fails the stack
    vanishes anyway (its id answers DELETE_COMPLETE, or HTTP 500 for the root); a nested stack that fails to
    delete takes its parent with it; RetainResources is ignored; describing the resources of a stack that lost some
    makes them again (a lazy map).
    Real: see _delete_resources. A nested stack that ends DELETE_FAILED fails its resource in the parent with
    "Embedded stack ... was not successfully deleted: ..."; RetainResources is accepted only for a stack in
    DELETE_FAILED, naming resources that are still there.
    Still not shown: a delete that waits (an ENI held by a Lambda for minutes), and resources moto deletes without
    the checks AWS makes (ec2_deletes_refuse_dependents lists the ones modelled)."""
    from moto.cloudformation import models, responses
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.responses import EmptyResult

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = next((s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)), None)
        if stack is None or stack.status == "DELETE_IN_PROGRESS":
            return None  # AWS: deleting a stack that does not exist (or is going) succeeds and does nothing
        if _delete_resources(stack):
            return None
        for export in stack.exports:
            self.exports.pop(export.name, None)
        self.deleted_stacks[stack.stack_id] = self.stacks.pop(stack.stack_id)
        return None

    models.CloudFormationBackend.delete_stack = delete_stack

    def stack_resources(self: Any) -> list[Any]:  # Real: what is there; moto's lazy map creates what is not
        parsed, order = self.resource_map._parsed_resources, self.resource_map._resource_json_map or {}
        return [parsed[n] for n in order if parsed.get(n) is not None and not isinstance(parsed[n], str)]

    models.Stack.stack_resources = property(stack_resources)
    outputs = models.Stack.outputs.fget

    def outputs_of_what_is_there(self: Any) -> Any:  # an output of a deleted resource would make it again
        gone = self.status.startswith("DELETE") or self.status in {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}
        return None if gone else outputs(self)

    models.Stack.outputs = property(outputs_of_what_is_there)

    def delete_nested(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                      region_name: str) -> None:  # fmt: skip
        backend = models.cloudformation_backends[account_id][region_name]
        backend.delete_stack(resource_name)
        child = backend.stacks.get(resource_name)
        if child is not None and child.status == "DELETE_FAILED":
            raise ValidationError(
                resource_name,
                message=f"Embedded stack {child.stack_id} was not successfully deleted: {child.status_reason}",
            )

    models.Stack.delete_from_cloudformation_json = classmethod(delete_nested)

    def delete_stack_response(self: Any) -> Any:
        name = self._get_param("StackName")
        retain = self._get_param("RetainResources", []) or []
        if retain:
            stack = next((s for s in self.cloudformation_backend.stacks.values() if name in (s.stack_id, s.name)),
                         None)  # fmt: skip
            if stack is None or stack.status != "DELETE_FAILED":
                raise ValidationError(
                    name,
                    message=f"Invalid operation on stack [{name}]. RetainResources can only be specified when the "
                    "stack is in the DELETE_FAILED state",
                )
            there = set(stack.resource_map._parsed_resources) & set(stack.resource_map._resource_json_map)
            if not set(retain) <= there:
                raise ValidationError(
                    name,
                    message="The specified resources to retain must be in a valid state. Do not specify resources "
                    "that are in the DELETE_COMPLETE state.",
                )
            stack.localaws_retain = set(retain)
        self.cloudformation_backend.delete_stack(name)
        return EmptyResult()

    responses.CloudFormationResponse.delete_stack = delete_stack_response


@patch
def security_group_egress_resources() -> None:
    """Gap: AWS::EC2::SecurityGroupEgress is not supported (skipped with a warning), so the rule never exists.
    Real: the rule is added to the group, and revoked when the resource is deleted."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.ec2.models import ec2_backends

    class SecurityGroupEgress(CloudFormationModel):  # type: ignore[misc]
        __module__ = "tests.localaws"  # see _registered_class

        def __init__(self, group: Any, properties: dict[str, Any]) -> None:
            self.group, self.properties = group, properties

        @property
        def physical_resource_id(self) -> str:
            return f"{self.group.id}-egress-{self.properties.get('FromPort')}"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::EC2::SecurityGroupEgress"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:  # fmt: skip
            wanted = cloudformation_json["Properties"]
            backend = ec2_backends[account_id][region_name]
            peer = wanted.get("DestinationSecurityGroupId")
            _, group = backend.authorize_security_group_egress(
                wanted["GroupId"], wanted["IpProtocol"], wanted.get("FromPort"), wanted.get("ToPort"),
                [{"CidrIp": wanted["CidrIp"]}] if "CidrIp" in wanted else [],
                source_groups=[{"GroupId": peer}] if peer else [],
            )  # fmt: skip
            return cls(group, wanted)

        def delete(self, account_id: str, region_name: str) -> None:
            wanted = self.properties
            peer = wanted.get("DestinationSecurityGroupId")
            self.group.egress_rules = [
                r for r in self.group.egress_rules
                if not ((r.source_group.get("GroupId") == peer if peer else r.ip_range.get("CidrIp") == wanted.get(
                    "CidrIp")) and str(r.from_port) == str(wanted.get("FromPort")))
            ]  # fmt: skip

    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type == "AWS::EC2::SecurityGroupEgress":
            return SecurityGroupEgress
        return original(resource_type)

    parsing.resource_class_from_type = resource_class_from_type


@patch
def ec2_deletes_refuse_dependents() -> None:
    """Gaps: deleting an AWS::EC2::SecurityGroupIngress leaves its rule in the group; a security group that another
    group's rule refers to is deleted, and so is a VPC that still holds security groups other than its default one.
    Real: deleting the ingress resource revokes its rule; the other two fail with DependencyViolation ("resource
    sg-... has a dependent object"; "The vpc 'vpc-...' has dependencies and cannot be deleted."). Still not
    modelled: network interfaces that hold a subnet or a group (moto never releases those of NAT gateways and
    tasks, so counting them would fail deletes that AWS makes)."""
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models.security_groups import SecurityGroupBackend, SecurityGroupIngress
    from moto.ec2.models.vpcs import VPCBackend

    def revoke(self: Any, account_id: str, region_name: str) -> None:
        wanted = self.properties

        def same(rule: Any) -> bool:
            source = wanted.get("SourceSecurityGroupId")
            peer = rule.source_group.get("GroupId") == source if source else rule.ip_range.get("CidrIp") == wanted.get(
                "CidrIp")  # fmt: skip
            ports = (str(rule.from_port), str(rule.to_port)) == (str(wanted.get("FromPort")), str(wanted.get("ToPort")))
            return peer and ports

        self.security_group.ingress_rules = [r for r in self.security_group.ingress_rules if not same(r)]

    SecurityGroupIngress.delete = revoke

    original_group = SecurityGroupBackend.delete_security_group

    def delete_security_group(self: Any, name: str | None = None, group_id: str | None = None) -> None:
        if group_id:
            for groups in self.groups.values():
                for group in groups.values():
                    rules = group.ingress_rules + group.egress_rules
                    if group.id != group_id and any(r.source_group.get("GroupId") == group_id for r in rules):
                        raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return original_group(self, name=name, group_id=group_id)

    SecurityGroupBackend.delete_security_group = delete_security_group
    original_vpc = VPCBackend.delete_vpc

    def delete_vpc(self: Any, vpc_id: str) -> Any:
        if any(g.name != "default" for g in self.groups.get(vpc_id, {}).values()):
            raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        return original_vpc(self, vpc_id)

    VPCBackend.delete_vpc = delete_vpc


@patch
def route_tables_are_deleted_with_their_stack() -> None:
    """Gap: a stack's route tables are never deleted (AWS::EC2::RouteTable and its subnet associations have no
    delete), so the VPC then fails with DependencyViolation; inside a nested stack that error is swallowed and the
    nested stack vanishes (not even DELETE_COMPLETE) while its VPC stays.
    Real: CloudFormation deletes the associations and the route tables, then the VPC."""
    from moto.ec2.models.route_tables import RouteTable

    def delete(self: Any, account_id: str, region_name: str) -> None:
        self._associations.clear()  # the SubnetRouteTableAssociation resources go first in CloudFormation
        self.ec2_backend.delete_route_table(self.id)

    RouteTable.delete = delete


@patch
def kms_key_from_cloudformation() -> None:
    """Gap: an AWS::KMS::Key with Tags fails (moto wants TagKey/TagValue, CloudFormation gives Key/Value), and a
    KeyPolicy given as an object, as CloudFormation allows, breaks DescribeKey later.
    Real: both forms are CloudFormation's own; the key is created with its tags and policy."""
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> Any:  # fmt: skip
        properties = dict(cloudformation_json["Properties"])
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        properties["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties.get("Tags", [])]
        return original(cls, resource_name, {**cloudformation_json, "Properties": properties}, account_id, region_name,
                        **kwargs)  # fmt: skip

    Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


@patch
def role_policies_from_cloudformation_are_json() -> None:
    """Gap: a role's inline policy from a template (Policies) is kept as the Python object, so GetRolePolicy
    answers its repr ({'Version': ...}), which no JSON reader takes.
    Real: IAM keeps the JSON document CloudFormation sends, and GetRolePolicy answers it (URL-encoded JSON,
    which boto3 decodes). Still not shown: IAM's own normalisation (it may reorder or reformat the JSON)."""
    from moto.iam.models import Role

    original = Role.put_policy

    def put_policy(self: Any, policy_name: str, policy_json: Any) -> None:
        original(self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))

    Role.put_policy = put_policy


@patch
def permissions_boundaries_must_exist() -> None:
    """Gaps: CreateRole and PutRolePermissionsBoundary accept any policy ARN as the boundary; a stack update
    that adds, changes or removes a role's PermissionsBoundary leaves the role as it was.
    Real: the boundary must be a managed policy that exists (NoSuchEntity "Scope ARN: ... does not exist or is
    not attachable.", so an app stack deployed before the bootstrap stack that holds the boundary fails); an
    update puts or deletes the boundary in place.
    Still not shown: moto evaluates no policy, so neither what the boundary caps nor the execution role's
    iam:PermissionsBoundary conditions are exercised here; tests/test_boundary.py proves those on the documents."""
    from moto.iam import models
    from moto.iam.exceptions import NotFoundException

    def must_exist(backend: Any, arn: str | None) -> None:
        if arn and arn not in backend.managed_policies:
            raise NotFoundException(f"Scope ARN: {arn} does not exist or is not attachable.")

    original_create = models.IAMBackend.create_role

    def create_role(self: Any, role_name: str, assume_role_policy_document: str, path: str,
                    permissions_boundary: str | None, *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        must_exist(self, permissions_boundary)
        return original_create(self, role_name, assume_role_policy_document, path, permissions_boundary, *args,
                               **kwargs)  # fmt: skip

    original_put = models.IAMBackend.put_role_permissions_boundary

    def put_role_permissions_boundary(self: Any, role_name: str, permissions_boundary: str) -> None:
        must_exist(self, permissions_boundary)
        original_put(self, role_name, permissions_boundary)

    original_update = models.Role.update_from_cloudformation_json.__func__

    def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, account_id: str,
                                        region_name: str) -> Any:  # fmt: skip
        backend = models.iam_backends[account_id][models.get_partition(region_name)]
        boundary = cloudformation_json.get("Properties", {}).get("PermissionsBoundary")
        if boundary:
            backend.put_role_permissions_boundary(original_resource.name, boundary)
        else:
            backend.delete_role_permissions_boundary(original_resource.name)
        return original_update(cls, original_resource, new_resource_name, cloudformation_json, account_id,
                               region_name)  # fmt: skip

    models.IAMBackend.create_role = create_role
    models.IAMBackend.put_role_permissions_boundary = put_role_permissions_boundary
    models.Role.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


@patch
def load_balancer_metric_names() -> None:
    """Gap: GetAtt LoadBalancerFullName raises NotImplementedError, and a target group has no GetAtt at all
    (TargetGroupFullName, TargetGroupName, LoadBalancerArns): a stack that names them for CloudWatch fails.
    Real: the full names are the ARNs' tails, app/<name>/<id> and targetgroup/<name>/<id>, which CloudWatch's
    AWS/ApplicationELB metrics take as their LoadBalancer and TargetGroup dimensions. Still not shown: metrics
    themselves (moto publishes no load balancer metrics)."""
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
    from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup

    original = FakeLoadBalancer.get_cfn_attribute

    def balancer_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        return original(self, attribute_name)

    def group_attribute(self: Any, attribute_name: str) -> Any:
        values = {
            "TargetGroupFullName": self.arn.split(":", 5)[5],
            "TargetGroupName": self.name,
            "TargetGroupArn": self.arn,
            "LoadBalancerArns": list(self.load_balancer_arns),
        }
        if attribute_name not in values:
            raise UnformattedGetAttTemplateException()
        return values[attribute_name]

    FakeLoadBalancer.get_cfn_attribute = balancer_attribute
    FakeTargetGroup.get_cfn_attribute = group_attribute
    FakeTargetGroup.has_cfn_attr = classmethod(lambda cls, attr: attr in {
        "TargetGroupFullName", "TargetGroupName", "TargetGroupArn", "LoadBalancerArns"})  # fmt: skip


def _api_shape(value: Any) -> Any:
    """A template's property value in the API's spelling: DeploymentCircuitBreaker -> deploymentCircuitBreaker."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _api_shape(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_api_shape(inner) for inner in value]
    return value


@patch
def ecs_services_keep_their_deployment_configuration() -> None:
    """Gap: an AWS::ECS::Service's DeploymentConfiguration is dropped (moto's model keeps the cluster, task
    definition and count only), so DescribeServices shows no circuit breaker and no deployment alarms.
    Real: ECS keeps what the template set (circuit breaker, minimum and maximum percent, the deployment alarms
    with their names, enable and rollback) and DescribeServices returns it; alarm names are taken whether or not
    the alarms exist yet (CDK's enableDeploymentAlarms makes the alarm after the service). Still not shown: ECS
    watching those alarms during a deployment and its bake time, and rolling the service back when one goes to
    ALARM (moto runs no deployments); an update that leaves DeploymentConfiguration out keeps the old one here,
    as ECS does for a property CloudFormation does not send."""
    from moto.ecs.models import Service

    def keep(made: Any, cloudformation_json: Any) -> Any:
        wanted = cloudformation_json.get("Properties", {}).get("DeploymentConfiguration")
        if wanted is not None:
            made.deployment_configuration = _api_shape(wanted)
        return made

    create, update = Service.create_from_cloudformation_json.__func__, Service.update_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any,
                                        **kwargs: Any) -> Any:  # fmt: skip
        return keep(create(cls, resource_name, cloudformation_json, *args, **kwargs), cloudformation_json)

    def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        made = update(cls, original_resource, new_resource_name, cloudformation_json, *args, **kwargs)
        if made is not original_resource and hasattr(original_resource, "deployment_configuration"):
            made.deployment_configuration = original_resource.deployment_configuration
        return keep(made, cloudformation_json)

    Service.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    Service.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


def _trusts(document: Any, caller_account: str, caller_arn: str) -> bool:
    """Whether a role's trust policy lets the caller assume it: an Allow of sts:AssumeRole for an AWS principal
    that is the caller's account (its id, or arn:...:iam::<id>:root) or the caller itself."""
    policy = json.loads(document) if isinstance(document, str) else document
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*", "*"} & set(actions):
            continue
        principals = (statement.get("Principal") or {}).get("AWS", []) if isinstance(
            statement.get("Principal"), dict) else []  # fmt: skip
        principals = [principals] if isinstance(principals, str) else principals
        for principal in principals:
            if principal in {caller_account, caller_arn, "*"} or re.fullmatch(
                rf"arn:[\w-]+:iam::{caller_account}:root", principal
            ):
                return True
    return False


@patch
def assume_role_needs_a_role_that_trusts_the_caller() -> None:
    """Gap: AssumeRole succeeds for any role ARN (moto's docstring: "the role does not need to exist"), in any
    account, so a deploy_role that does not exist, or does not trust the credentials, looks fine locally.
    Real: AssumeRole fails with AccessDenied ("User: <caller> is not authorized to perform: sts:AssumeRole on
    resource: <role>") unless the role exists in its account and its trust policy allows the caller; here
    the trust policy must have an Allow of sts:AssumeRole for an AWS principal that is the caller's account
    (the id, or arn:aws:iam::<id>:root) or the caller's own ARN. AssumeRoleWithWebIdentity is left as it was.
    Still not shown: conditions in the trust policy, the caller's own need for sts:AssumeRole in its
    identity policy, session policies and external ids, and role chaining's one-hour cap."""
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.responses import TokenResponse
    from moto.utilities.utils import get_partition

    original = TokenResponse.assume_role

    def assume_role(self: Any) -> Any:
        role_arn = self._get_param("RoleArn")
        parts = role_arn.split(":", 5)
        caller = self.backend.get_caller_identity(self.get_access_key(), self.region)
        caller_arn, caller_account = caller[1], caller[2]
        role = None
        if len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/"):
            roles = iam_backends[parts[4]][get_partition(self.region)].roles.values()
            role = next((r for r in roles if r.arn == role_arn), None)
        if role is None or not _trusts(role.assume_role_policy_document, caller_account, caller_arn):
            raise STSClientError(
                "AccessDenied",
                f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            )
        return original(self)

    TokenResponse.assume_role = assume_role


@patch
def termination_protection() -> None:
    """Gap: UpdateTerminationProtection is not implemented, and DeleteStack ignores the protection.
    Real: the flag is set on the stack, and a protected stack cannot be deleted."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    def update_termination_protection(self: Any) -> Any:
        (stack,) = self.cloudformation_backend.describe_stacks(self._get_param("StackName"))
        stack.enable_termination_protection = self._get_param("EnableTerminationProtection") in (True, "true")
        return ActionResult({"StackId": stack.stack_id})

    CloudFormationResponse.update_termination_protection = update_termination_protection
    original = CloudFormationBackend.delete_stack

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        for stack in self.stacks.values():
            if name_or_stack_id in (stack.name, stack.stack_id) and stack.enable_termination_protection:
                raise ValidationError(
                    name_or_stack_id,
                    message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled",
                )
        return original(self, name_or_stack_id)

    CloudFormationBackend.delete_stack = delete_stack


@patch
def empty_change_set_is_failed_not_refused() -> None:
    """Gap: CreateChangeSet with an unchanged template and parameters is refused ("No updates are to be
    performed", the UpdateStack error). Real: the change set is created and ends FAILED with "The submitted
    information didn't contain changes", which moto's backend already does once this check is out of the way."""
    from moto.cloudformation.responses import CloudFormationResponse

    original = CloudFormationResponse._validate_different_update

    def _validate_different_update(self: Any, *args: Any, **kwargs: Any) -> None:
        if self._get_action() == "CreateChangeSet":
            return None
        return original(self, *args, **kwargs)

    CloudFormationResponse._validate_different_update = _validate_different_update


@patch
def throttling_can_be_injected() -> None:
    """Gap: moto never throttles. Real: CloudFormation answers HTTP 400 Throttling ("Rate exceeded") when an
    account calls it too often (many deploys, a console open on the events), and SDK clients back off and retry.
    Here the next THROTTLED[action] calls of an action answer that way. (What is not shown: the rate limits
    themselves.)"""
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.cloudformation.responses import CloudFormationResponse

    class Throttling(CloudFormationError):
        code = "Throttling"

    def throttled(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def answer(self: Any) -> Any:
            action = self._get_action()
            if THROTTLED.get(action, 0) > 0:
                THROTTLED[action] -= 1
                raise Throttling("Rate exceeded")
            return method(self)

        return answer

    for name in ("describe_stacks", "describe_stack_events", "describe_stack_resources", "describe_change_set",
                 "create_change_set", "execute_change_set", "delete_change_set", "list_change_sets", "delete_stack",
                 "get_template", "list_stacks"):  # fmt: skip
        setattr(CloudFormationResponse, name, throttled(getattr(CloudFormationResponse, name)))


# --- drift detection ---------------------------------------------------------------------------------------


# logical id -> why CloudFormation could not read it: the detection of the stack holding it ends DETECTION_FAILED
# naming it (as when the caller may not read that resource; AWS reads each resource with the caller's permissions)
DRIFT_FAILURES: dict[str, str] = {}
# stack name -> how many looks at its detection find it DETECTION_IN_PROGRESS (1 when not set): a big stack's
# detection takes minutes in AWS
DRIFT_LOOKS_IN_PROGRESS: dict[str, int] = {}


@dataclass
class _Detection:
    """One DetectStackDrift: its stack, the results computed when it started, and how often it was described."""

    detection_id: str
    stack_id: str
    stack_name: str
    drifts: list[dict[str, Any]]  # the checked resources' StackResourceDrift (IN_SYNC, MODIFIED, DELETED)
    not_checked: list[str]  # logical ids of the types not checked here (nested stacks among them)
    failed: dict[str, str]  # logical id -> why it could not be read
    started: Any
    described: int = 0
    complete: bool = False  # its results are the stack's (a detection still running has none to show)


_DETECTIONS: dict[str, _Detection] = {}  # detection id -> its record
_LAST_DRIFT: dict[str, dict[str, str]] = {}  # stack id -> logical id -> its drift status after the last detection


def _log_group_actual(account: str, region: str, physical: str, expected: dict[str, Any]) -> dict[str, Any] | None:
    """A log group as CloudWatch Logs holds it (None: gone), in the template's terms: RetentionInDays."""
    from moto.logs.models import logs_backends

    group = logs_backends[account][region].groups.get(physical)
    if group is None:
        return None
    actual = {k: v for k, v in expected.items() if k != "RetentionInDays"}
    if group.retention_in_days is not None:
        actual["RetentionInDays"] = int(group.retention_in_days)
    return actual


def _bucket_actual(account: str, region: str, physical: str, expected: dict[str, Any]) -> dict[str, Any] | None:
    """A bucket as S3 holds it (None: gone), in the template's terms: its Tags."""
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account][get_partition(region)]
    if physical not in backend.buckets:
        return None
    tags = backend.get_bucket_tagging(physical).get("Tags", [])
    actual = {k: v for k, v in expected.items() if k != "Tags"}
    if tags:
        actual["Tags"] = [{"Key": t["Key"], "Value": t["Value"]} for t in tags]
    return actual


# The types whose drift the local AWS reads back, each from the service's own backend, and the properties it
# compares; every other type is NOT_CHECKED (AWS checks many more).
DRIFT_READERS: dict[str, tuple[Callable[[str, str, str, dict[str, Any]], dict[str, Any] | None], tuple[str, ...]]] = {
    "AWS::Logs::LogGroup": (_log_group_actual, ("RetentionInDays",)),
    "AWS::S3::Bucket": (_bucket_actual, ("Tags",)),
}


def _difference(path: str, expected: Any, actual: Any, kind: str) -> dict[str, str]:
    """One PropertyDifference as CloudFormation words it: a JSON pointer, both values as JSON text (null: absent)."""

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    return {"PropertyPath": path, "ExpectedValue": text(expected), "ActualValue": text(actual), "DifferenceType": kind}


def _differences(expected: dict[str, Any], actual: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, str]]:
    """The PropertyDifferences of `keys`; Tags are matched by Key, not by position, as CloudFormation matches them."""
    found = []
    for key in keys:
        want, have = expected.get(key), actual.get(key)
        if key == "Tags" and isinstance(want, list) and isinstance(have, list):
            have_by_key = {t["Key"]: t["Value"] for t in have}
            for i, tag in enumerate(want):
                if tag["Key"] not in have_by_key:
                    found.append(_difference(f"/Tags/{i}", tag, None, "REMOVE"))
                elif str(have_by_key[tag["Key"]]) != str(tag["Value"]):
                    found.append(_difference(f"/Tags/{i}/Value", tag["Value"], have_by_key[tag["Key"]], "NOT_EQUAL"))
            added = [t for t in have if t["Key"] not in {w["Key"] for w in want}]
            found += [_difference(f"/Tags/{len(want) + j}", None, tag, "ADD") for j, tag in enumerate(added)]
        elif want is None and have is not None:
            found.append(_difference(f"/{key}", None, have, "ADD"))
        elif want is not None and have is None:
            found.append(_difference(f"/{key}", want, None, "REMOVE"))
        elif str(want) != str(have):  # a template's "7" is the 7 the service keeps
            found.append(_difference(f"/{key}", want, have, "NOT_EQUAL"))
    return found


def _detect(stack: Any, account: str, region: str) -> _Detection:
    """Every resource of this one stack against what its backend holds now; nested stacks are NOT_CHECKED."""
    from datetime import UTC, datetime

    from moto.cloudformation.parsing import clean_json
    from moto.moto_api._internal import mock_random

    now = datetime.now(UTC)
    record = _Detection(str(mock_random.uuid4()), stack.stack_id, stack.name, [], [], {}, now)
    parsed = stack.resource_map._parsed_resources
    for logical_id, resource_json in _parsed(stack.template).items():
        resource = parsed.get(logical_id)
        if resource is None or isinstance(resource, str):  # a condition left it out, or a pseudo parameter
            continue
        kind = resource_json.get("Type", "")
        if logical_id in DRIFT_FAILURES:
            record.failed[logical_id] = DRIFT_FAILURES[logical_id]
            continue
        if kind not in DRIFT_READERS:
            record.not_checked.append(logical_id)
            continue
        read, keys = DRIFT_READERS[kind]
        physical = str(resource.physical_resource_id)
        # What the template says, resolved as the deploy resolved it (the stack's parameters and resources).
        expected = clean_json(resource_json.get("Properties") or {}, stack.resource_map)
        actual = read(account, region, physical, expected)
        differences = [] if actual is None else _differences(expected, actual, keys)
        status = "DELETED" if actual is None else "MODIFIED" if differences else "IN_SYNC"
        drift = {"StackId": stack.stack_id, "LogicalResourceId": logical_id, "PhysicalResourceId": physical,
                 "ResourceType": kind, "ExpectedProperties": json.dumps(expected, default=str),
                 "StackResourceDriftStatus": status, "Timestamp": now}  # fmt: skip
        if actual is not None:
            drift["ActualProperties"] = json.dumps(actual, default=str)
        if differences:
            drift["PropertyDifferences"] = differences
        record.drifts.append(drift)
    return record


@patch
def drift_detection_per_stack() -> None:
    """Gap: DetectStackDrift, DescribeStackDriftDetectionStatus and DescribeStackResourceDrifts are not implemented,
    and ListStackResources carries no DriftInformation.
    Real: a detection checks one stack's own resources, never recursing (a nested stack's AWS::CloudFormation::Stack
    resource is NOT_CHECKED); it runs asynchronously (DETECTION_IN_PROGRESS, then DETECTION_COMPLETE, or
    DETECTION_FAILED naming what could not be read: DRIFT_FAILURES here; DRIFT_LOOKS_IN_PROGRESS makes one take
    longer, as a big stack's does); each resource's expected properties (its
    template's, resolved as the last operation resolved them) are compared with what the service holds now:
    MODIFIED with PropertyDifferences, DELETED when the resource is gone; DescribeStackResourceDrifts pages
    (MaxResults, NextToken), filters by status and never returns NOT_CHECKED ones; ListStackResources gives each
    resource's status of the last detection (NOT_CHECKED before any). A stack in an *_IN_PROGRESS status, and a
    stack that does not exist, are refused with a ValidationError.
    Still not shown: the local AWS reads back only DRIFT_READERS (log groups' RetentionInDays, buckets' Tags),
    every other type is NOT_CHECKED, where AWS checks most types and every property; UNKNOWN drift statuses;
    a GetAtt in an expected value is read at detection time, not as the last operation read it; the wording of
    the in-progress refusal is ours."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    def existing(self: Any, name: str) -> Any:
        stack = next((s for s in self.cloudformation_backend.stacks.values() if name in (s.name, s.stack_id)), None)
        if stack is None or stack.status == "DELETE_COMPLETE":
            raise ValidationError(name, message=f"Stack [{name}] does not exist")
        return stack

    def detect_stack_drift(self: Any) -> Any:
        name = self._get_param("StackName")
        stack = existing(self, name)
        if stack.status.endswith("_IN_PROGRESS"):
            raise ValidationError(name, message=f"Drift detection cannot be started for stack [{name}] while it is "
                                  f"in status {stack.status}")  # fmt: skip
        record = _detect(stack, self.current_account, self.region)
        _DETECTIONS[record.detection_id] = record
        return ActionResult({"StackDriftDetectionId": record.detection_id})

    def describe_stack_drift_detection_status(self: Any) -> Any:
        detection_id = self._get_param("StackDriftDetectionId")
        record = _DETECTIONS.get(detection_id)
        if record is None:
            raise ValidationError(message=f"Drift detection [{detection_id}] does not exist")
        record.described += 1
        answer: dict[str, Any] = {"StackId": record.stack_id, "StackDriftDetectionId": detection_id,
                                  "Timestamp": record.started}  # fmt: skip
        if record.described <= DRIFT_LOOKS_IN_PROGRESS.get(record.stack_name, 1):  # AWS takes a while
            return ActionResult({**answer, "DetectionStatus": "DETECTION_IN_PROGRESS"})
        record.complete = True
        drifted = [d for d in record.drifts if d["StackResourceDriftStatus"] != "IN_SYNC"]
        _LAST_DRIFT[record.stack_id] = {
            **{d["LogicalResourceId"]: d["StackResourceDriftStatus"] for d in record.drifts},
            **dict.fromkeys(record.not_checked + list(record.failed), "NOT_CHECKED"),
        }
        answer.update(StackDriftStatus="DRIFTED" if drifted else "IN_SYNC", DriftedStackResourceCount=len(drifted))
        if record.failed:
            reasons = "; ".join(f"[{logical}]: {why}" for logical, why in record.failed.items())
            answer.update(DetectionStatus="DETECTION_FAILED",
                          DetectionStatusReason=f"Failed to detect drift on resources {reasons}")  # fmt: skip
        else:
            answer["DetectionStatus"] = "DETECTION_COMPLETE"
        return ActionResult(answer)

    def describe_stack_resource_drifts(self: Any) -> Any:
        stack = existing(self, self._get_param("StackName"))
        wanted = set(self._get_param("StackResourceDriftStatusFilters") or ["IN_SYNC", "MODIFIED", "DELETED"])
        done = [r for r in _DETECTIONS.values() if r.stack_id == stack.stack_id and r.complete]
        latest = max(done, key=lambda r: r.started).drifts if done else []
        drifts = [d for d in latest if d["StackResourceDriftStatus"] in wanted]
        start, size = int(self._get_param("NextToken") or 0), int(self._get_param("MaxResults") or 100)
        answer: dict[str, Any] = {"StackResourceDrifts": drifts[start : start + size]}
        if start + size < len(drifts):
            answer["NextToken"] = str(start + size)
        return ActionResult(answer)

    original_list = CloudFormationResponse.list_stack_resources

    def list_stack_resources(self: Any) -> Any:
        result = original_list(self)
        stack = existing(self, self._get_param("StackName"))
        last = _LAST_DRIFT.get(stack.stack_id, {})
        for summary in result.result["StackResourceSummaries"]:
            status = last.get(summary["LogicalResourceId"], "NOT_CHECKED")
            summary["DriftInformation"] = {"StackResourceDriftStatus": status}
        return result

    CloudFormationResponse.detect_stack_drift = detect_stack_drift
    CloudFormationResponse.describe_stack_drift_detection_status = describe_stack_drift_detection_status
    CloudFormationResponse.describe_stack_resource_drifts = describe_stack_resource_drifts
    CloudFormationResponse.list_stack_resources = list_stack_resources


@patch
def oidc_providers_from_cloudformation() -> None:
    """Gap: moto's CloudFormation has no AWS::IAM::OIDCProvider: it warns, makes nothing, and `!Ref` answers the
    logical id, so a second provider for the same URL in one account (a second region's GitHub stack without
    ExistingProviderArn) looks fine.
    Real: the provider is IAM's, global to the account, and `!Ref` is its ARN
    (arn:aws:iam::<account>:oidc-provider/<host>); a second one for the same URL fails the resource with
    "Provider with url https://<host> already exists."; deleting the stack deletes it. Still not shown: updates
    of its client ids or thumbprints (a changed Url replaces it, which IAM then refuses as above)."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.iam.models import iam_backends

    class OidcProvider(CloudFormationModel):  # type: ignore[misc]
        __module__ = "tests.localaws"

        def __init__(self, arn: str, account_id: str) -> None:
            self.arn, self.account_id = arn, account_id

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::IAM::OIDCProvider"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:  # fmt: skip
            properties = cloudformation_json.get("Properties") or {}
            iam = iam_backends[account_id]["aws"]
            url = properties["Url"]
            if any(p.url == url.removeprefix("https://") or p.url == url for p in iam.open_id_providers.values()):
                raise ServiceError(f"Provider with url {url} already exists.")
            tags = [{"Key": t["Key"], "Value": t["Value"]} for t in properties.get("Tags") or []]
            provider = iam.create_open_id_connect_provider(url, properties.get("ThumbprintList") or [],
                                                           properties.get("ClientIdList") or [], tags)  # fmt: skip
            return cls(provider.arn, account_id)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                            region_name: str) -> None:  # fmt: skip
            iam_backends[account_id]["aws"].open_id_providers.pop(resource_name, None)

        def delete(self, account_id: str, region_name: str) -> None:
            iam_backends[account_id]["aws"].open_id_providers.pop(self.arn, None)

    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        return OidcProvider if resource_type == "AWS::IAM::OIDCProvider" else original(resource_type)

    parsing.resource_class_from_type = resource_class_from_type


# How long a stack set operation stays RUNNING here (LOCALAWS_STACKSET_SECONDS): its work is done when it is
# called, and the operation, its results and its instances say RUNNING until this much time has passed.
STACKSET_SECONDS = float(os.environ.get("LOCALAWS_STACKSET_SECONDS", "0.5"))


class _StackInstance:
    """A stack instance as StackSets keeps it: its overrides, its stack in the target account and region (none
    until one is made), and how the last operation on it ended (shown as RUNNING until that operation ends)."""

    def __init__(self, stack_set: Any, account: str, region: str, overrides: list[dict[str, Any]]) -> None:
        self.stack_set, self.account_id, self.region_name = stack_set, account, region
        self.parameters = overrides
        self.stack_id: str | None = None
        self.detailed, self.reason, self.ends = "PENDING", "", 0.0

    def backend(self) -> Any:
        from moto.cloudformation.models import cloudformation_backends

        return cloudformation_backends[self.account_id][self.region_name]

    def delete(self) -> None:  # DeleteStackInstances (RetainStacks is not read: the stack goes)
        if self.stack_id and self.stack_id in self.backend().stacks:
            self.backend().delete_stack(self.stack_id)

    def to_dict(self) -> dict[str, Any]:
        detailed = "RUNNING" if time.monotonic() < self.ends else self.detailed
        status = "CURRENT" if detailed == "SUCCEEDED" else "OUTDATED"
        answer = {"StackSetId": self.stack_set.id, "Region": self.region_name, "Account": self.account_id,
                  "ParameterOverrides": self.parameters, "Status": status, "DriftStatus": "NOT_CHECKED",
                  "StackInstanceStatus": {"DetailedStatus": detailed}}  # fmt: skip
        if self.stack_id:
            answer["StackId"] = self.stack_id
        if detailed in {"FAILED", "CANCELLED"}:
            answer["StatusReason"] = self.reason
        return answer


def _instance_values(stack_set: Any, instance: _StackInstance) -> dict[str, str]:
    """The instance's parameter values: the stack set's, with the instance's overrides on top."""
    values = dict(stack_set.parameters or {})
    values.update({p["ParameterKey"]: p["ParameterValue"] for p in instance.parameters if "ParameterValue" in p})
    return values


def _execution_role_refusal(stack_set: Any, account: str) -> str | None:
    """AWS's reason when the target account has no execution role of the stack set's name, or one whose trust
    policy does not let the administration role in; None when StackSets can assume it."""
    from moto.iam.models import iam_backends

    admin_account = stack_set.arn.split(":")[4]
    admin_role = stack_set.administration_role_arn
    roles = iam_backends[account]["aws"].roles.values()
    role = next((r for r in roles if r.name == stack_set.execution_role_name), None)
    if role is not None and _trusts(role.assume_role_policy_document, admin_account, admin_role):
        return None
    return (f"Account {account} should have '{stack_set.execution_role_name}' role with trust relationship to "
            f"Role '{admin_role.rsplit('/', 1)[-1]}'.")  # fmt: skip


def _failure_reason(stack: Any) -> str:
    """StackSets' reason for an instance whose stack failed: the first resource that failed, in its words."""
    for event in stack.events:
        if event.resource_status.endswith("_FAILED") and event.logical_resource_id != stack.name:
            return (f"ResourceLogicalId:{event.logical_resource_id}, ResourceType:{event.resource_type}, "
                    f"ResourceStatusReason:{event.resource_status_reason}.")  # fmt: skip
    return f"Stack {stack.name} ended {stack.status}: {stack.status_reason or 'no reason given'}"


def _run_instance(stack_set: Any, instance: _StackInstance, operation_id: str) -> tuple[str, str]:
    """Create or update the instance's stack as the execution role would: (SUCCEEDED | FAILED, reason)."""
    refusal = _execution_role_refusal(stack_set, instance.account_id)
    if refusal:
        return "FAILED", refusal
    backend = instance.backend()
    stack = backend.stacks.get(instance.stack_id) if instance.stack_id else None
    if stack is not None and stack.status in {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}:
        backend.delete_stack(stack.stack_id)  # a failed create is made again from scratch
        stack = None
    name = stack.name if stack else f"StackSet-{stack_set.name}-{operation_id}"
    kind = "UPDATE" if stack else "CREATE"
    change_set_id, stack_id = backend.create_change_set(
        name, f"stackset-{operation_id}", stack_set.template, _instance_values(stack_set, instance),
        f"StackSet {stack_set.name}", kind, tags=stack_set.tags)  # fmt: skip
    instance.stack_id = stack_id
    change_set = backend.describe_change_set(change_set_id)
    if change_set.status == "FAILED":  # nothing to change
        backend.delete_change_set(change_set_id)
        return "SUCCEEDED", ""
    try:
        backend.execute_change_set(change_set_id)
    except Exception as error:  # noqa: BLE001 - what a resource's handler answers becomes the instance's reason
        return "FAILED", f"ResourceStatusReason:{_error_text(error)}."
    stack = backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)
    if stack is None or stack.status not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
        return "FAILED", _failure_reason(stack) if stack else "the stack is gone"
    return "SUCCEEDED", ""


def _busy(stack_set: Any) -> None:
    """Real: one operation at a time per stack set; another while one runs is OperationInProgressException."""
    from moto.cloudformation.exceptions import CloudFormationError

    class OperationInProgressException(CloudFormationError):
        code = "OperationInProgressException"

    for operation in stack_set.operations:
        if stack_set.get_operation(operation["OperationId"])["Status"] == "RUNNING":
            raise OperationInProgressException(
                f"Another Operation on StackSet {stack_set.arn} is in progress: {operation['OperationId']}"
            )


def _operation(stack_set: Any, action: str, instances: list[_StackInstance], operation_id: str | None) -> str:
    """Run the instances one at a time (MaxConcurrentCount 1) until one fails (FailureToleranceCount 0: the rest
    are CANCELLED), and record the operation, RUNNING for STACKSET_SECONDS and then SUCCEEDED or FAILED."""
    from moto.moto_api._internal import mock_random

    operation_id = operation_id or str(mock_random.uuid4())
    ends = time.monotonic() + STACKSET_SECONDS
    results, failed = [], False
    for instance in instances:
        if failed:
            status, reason = "CANCELLED", "Cancelled since failure tolerance has exceeded"
        else:
            status, reason = _run_instance(stack_set, instance, operation_id)
            failed = status == "FAILED"
        instance.detailed, instance.reason, instance.ends = status, reason, ends
        results.append({"Account": instance.account_id, "Region": instance.region_name, "Status": status,
                        **({"StatusReason": reason} if reason else {})})  # fmt: skip
    operation = stack_set._create_operation(operation_id=operation_id, action=action, status="RUNNING")
    operation.update(localaws_results=results, localaws_ends=ends, localaws_final="FAILED" if failed else "SUCCEEDED")
    return operation_id


def _targets(stack_set: Any, accounts: list[str], regions: list[str]) -> list[_StackInstance]:
    """The stack set's instances in those accounts and regions (all of them when neither is named)."""
    return [i for i in stack_set.instances.stack_instances
            if (not accounts or i.account_id in accounts) and (not regions or i.region_name in regions)]  # fmt: skip


def _needs_capabilities(template: str, capabilities: list[str]) -> None:
    """Real: a stack set whose template has IAM resources is refused without the capability that allows them."""
    from moto.cloudformation.exceptions import CloudFormationError

    class InsufficientCapabilitiesException(CloudFormationError):
        code = "InsufficientCapabilitiesException"

    resources = _parsed(template).values()
    iam = [r for r in resources if str(r.get("Type", "")).startswith("AWS::IAM::")]
    named = any("RoleName" in (r.get("Properties") or {}) or "ManagedPolicyName" in (r.get("Properties") or {})
                for r in iam)  # fmt: skip
    wanted = "CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM"
    if iam and wanted not in capabilities and "CAPABILITY_NAMED_IAM" not in capabilities:
        raise InsufficientCapabilitiesException(f"Requires capabilities : [{wanted}]")


@patch
def stack_sets_deploy_through_their_roles() -> None:
    """Gaps (self-managed stack sets): an instance's stack is made at once, named `StackSet:<name>`, whatever the
    roles; a template that fails to create answers HTTP 500; UpdateStackSet and UpdateStackInstances change no
    stack; every operation is SUCCEEDED at once, its results say nothing of a failure, and every instance is
    CURRENT; templates with IAM resources need no capability.
    Real: StackSets assumes the execution role (ExecutionRoleName) in each target account as the administration
    role; an account without that role, or whose role does not trust the administration role (or its account),
    fails the instance with "Account <id> should have '<execution role>' role with trust relationship to Role
    '<administration role>'."; otherwise the instance's stack `StackSet-<name>-<id>` is created (or updated, with
    the stack set's template and the instance's parameter overrides) in the target account and region, through a
    change set, so a resource that fails fails the stack as a deploy's does (rolled back) and the instance with
    "ResourceLogicalId:..., ResourceType:..., ResourceStatusReason:...". Instances run one at a time and, with
    FailureToleranceCount 0, the first failure CANCELS the rest; the operation is RUNNING (STACKSET_SECONDS
    here), then SUCCEEDED or FAILED, its results and the instances (OUTDATED, DetailedStatus FAILED or CANCELLED,
    StatusReason) say which; a second operation while one runs is OperationInProgressException; CreateStackSet
    and UpdateStackSet need CAPABILITY_(NAMED_)IAM for IAM resources.
    Still not shown: what the administration role itself may do (a missing one, or one without sts:AssumeRole,
    is not refused here), what the execution role's policy allows (moto evaluates no policy), OperationPreferences
    (one instance at a time and no failure tolerance are what it models, the project's settings), regions run in
    parallel, StopStackSetOperation stopping work already done, drift, service-managed stack sets (left to moto)."""
    from moto.cloudformation import models
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    original_create = models.StackSet.create_stack_instances

    def create_stack_instances(self: Any, accounts: list[str], regions: list[str], deployment_targets: Any,
                               parameters: list[dict[str, Any]]) -> str:  # fmt: skip
        if self.permission_model != "SELF_MANAGED":
            return original_create(self, accounts, regions, deployment_targets, parameters)
        _busy(self)
        new = []
        for region in regions:
            for account in accounts:
                if self.instances.get_instance(account, region) is None:  # an existing one is left as it is
                    new.append(_StackInstance(self, account, region, list(parameters or [])))
        self.instances.stack_instances += new
        return _operation(self, "CREATE", new, None)

    models.StackSet.create_stack_instances = create_stack_instances

    def update(self: Any, template: str, description: str, parameters: dict[str, str], tags: dict[str, str],
               admin_role: str, execution_role: str, accounts: list[str], regions: list[str],
               operation_id: str) -> dict[str, Any]:  # fmt: skip
        _busy(self)
        self.template = template or self.template
        self.description = description if description is not None else self.description
        self.parameters = parameters or self.parameters
        self.tags = tags or self.tags
        self.administration_role_arn = admin_role or self.administration_role_arn
        self.execution_role_name = execution_role or self.execution_role_name
        return self.get_operation(_operation(self, "UPDATE", _targets(self, accounts, regions), operation_id))

    models.StackSet.update = update

    def update_instances(self: Any, accounts: list[str], regions: list[str],
                         parameters: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
        _busy(self)
        targets = _targets(self, accounts, regions)
        if len(targets) != len(accounts) * len(regions):
            raise models.StackInstanceNotFound()
        for instance in targets:
            instance.parameters = list(parameters or [])
        return self.get_operation(_operation(self, "UPDATE", targets, None))

    models.StackSet.update_instances = update_instances
    original_get = models.StackSet.get_operation

    def get_operation(self: Any, operation_id: str) -> dict[str, Any]:
        operation = original_get(self, operation_id)
        if operation.get("Status") == "RUNNING" and time.monotonic() >= operation.get("localaws_ends", 0):
            operation["Status"] = operation["localaws_final"]
        return operation

    models.StackSet.get_operation = get_operation

    def list_stack_set_operation_results(self: Any) -> Any:
        operation = self.cloudformation_backend.describe_stack_set_operation(
            self._get_param("StackSetName"), self._get_param("OperationId"))[1]  # fmt: skip
        running = operation["Status"] == "RUNNING"
        summaries = [{**r, "Status": "RUNNING"} if running else r for r in operation.get("localaws_results", [])]
        for summary in summaries:
            if running:
                summary.pop("StatusReason", None)
        return ActionResult({"Summaries": summaries})

    CloudFormationResponse.list_stack_set_operation_results = list_stack_set_operation_results

    def with_capabilities(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def answer(self: Any) -> Any:
            body = self._get_param("TemplateBody")
            if body is not None:
                _needs_capabilities(body, self._get_param("Capabilities", []))
            return original(self)

        return answer

    for action in ("create_stack_set", "update_stack_set"):
        setattr(CloudFormationResponse, action, with_capabilities(getattr(CloudFormationResponse, action)))


def patch_all() -> None:
    global _patched
    if not _patched:
        for apply in PATCHES.values():
            apply()
        _patched = True


@dataclass
class LocalAws:
    """A running moto server on loopback."""

    url: str
    _server: Any
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop the server and give the process its environment back, so later tests do not aim at a dead port."""
        self._server.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def clear_faults() -> None:
    """No injected faults: every test that sets one starts from none (the state is per process)."""
    DATA_API_ERRORS.clear()
    LOST_ANSWERS.clear()
    UPDATE_ERRORS.clear()
    THROTTLED.clear()
    DRIFT_FAILURES.clear()
    DRIFT_LOOKS_IN_PROGRESS.clear()


def start(port: int = 0) -> LocalAws:
    """Patch moto and start its server on 127.0.0.1 (a free port by default)."""
    patch_all()
    clear_faults()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    url = f"http://{host}:{bound}"
    # moto's state is per process, not per server: without a reset, a retained bucket of an earlier test in this
    # pytest worker makes the next deploy of the same environment fail with BucketAlreadyExists.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).close()
    changes = {
        # The port custom resources answer on (lambda_runs_inline_python rewrites their ResponseURL to it).
        "MOTO_PORT": str(bound),
        # Functions run in-process (lambda_runs_inline_python): their boto3 clients must reach this server only.
        "AWS_ENDPOINT_URL": url,
    }
    for key, value in credentials_env().items():
        if key.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_DEFAULT")) and key not in os.environ:
            changes[key] = value
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    return LocalAws(url, server, saved)


def credentials_env() -> dict[str, str]:
    """What a child process needs to talk to the local AWS: dummy credentials, a region, no real config."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a patched moto server on 127.0.0.1 for trying deploys by hand.")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    local = start(args.port)
    print(f"local AWS on {local.url} (patched moto; Ctrl-C to stop). In another shell:")
    print(
        "  export "
        + " ".join(
            f"{k}={v}" for k, v in credentials_env().items() if k.startswith("AWS_ACC") or k.startswith("AWS_SEC")
        )
    )
    print(f"  python build.py dev --deploy --endpoint-url {local.url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        local.stop()


if __name__ == "__main__":
    main()
