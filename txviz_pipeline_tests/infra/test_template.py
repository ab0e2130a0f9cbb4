"""infra/template.yaml agrees with settings.py and schema.py, and passes cfn-lint.

The template is parsed with cfn-lint's own decoder, which understands !Ref/!Sub/!GetAtt.
Nothing here deploys anything (moto skips Firehose, Glue and QuickSight in CloudFormation).
"""

from __future__ import annotations

import re
from typing import Any

import cardstore
import cfnlint.api
import dynamostore
import fraudmodel

from txviz_pipeline import schema, settings
from txviz_pipeline.serving import queries
from txviz_pipeline_tests.infra.conftest import TEMPLATE_PATH

QUICKSIGHT_TYPES = {"string": "STRING", "int64": "INTEGER", "float64": "DECIMAL"}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def resolve(template: dict[str, Any], value: Any) -> Any:
    """Evaluate Ref/Sub with parameter defaults; a resource Ref becomes its physical name."""
    names = {
        "TransactionsBucket": "BucketName",
        "DeliveryStream": "DeliveryStreamName",
        "GlueDatabase": None,
    }

    def ref(name: str) -> str:
        if name in template["Parameters"]:
            return str(template["Parameters"][name]["Default"])
        if name == "GlueDatabase":
            return props(template, name)["DatabaseInput"]["Name"]
        if names.get(name):
            return ref(names[name])
        return f"<{name}>"

    if isinstance(value, dict) and "Ref" in value:
        return ref(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        text = re.sub(r"\$\{(?!!)([^}]+)\}", lambda m: ref(m.group(1)), text)
        return text.replace("${!", "${")
    return value


def test_settings_agree_with_infra(template):
    bucket = props(template, "TransactionsBucket")
    stream = props(template, "DeliveryStream")
    s3 = stream["ExtendedS3DestinationConfiguration"]
    table = props(template, "TransactionsTable")

    assert resolve(template, bucket["BucketName"]) == settings.BUCKET
    assert resolve(template, stream["DeliveryStreamName"]) == settings.DELIVERY_STREAM
    assert props(template, "ProcessorFunction")["FunctionName"] == settings.PROCESSOR_FUNCTION
    assert s3["Prefix"] == settings.DELIVERY_PREFIX_TEMPLATE
    assert s3["DynamicPartitioningConfiguration"] == {"Enabled": True}
    assert s3["ErrorOutputPrefix"] == settings.ERROR_PREFIX_TEMPLATE
    assert props(template, "AlertsTopic")["TopicName"] == settings.ALERTS_TOPIC
    assert props(template, "GlueDatabase")["DatabaseInput"]["Name"] == settings.GLUE_DATABASE
    assert resolve(template, table["DatabaseName"]) == settings.GLUE_DATABASE
    assert table["TableInput"]["Name"] == settings.GLUE_TABLE
    location = resolve(template, table["TableInput"]["StorageDescriptor"]["Location"])
    assert location == f"s3://{settings.BUCKET}/{settings.CURATED_PREFIX}"
    assert props(template, "QuickSightDataSet")["DataSetId"] == settings.QUICKSIGHT_DATASET_ID
    assert template["Outputs"]["QuickSightDataSetId"]["Value"] == settings.QUICKSIGHT_DATASET_ID
    log_group = props(template, "ProcessorLogGroup")["LogGroupName"]
    assert log_group == f"/aws/lambda/{settings.PROCESSOR_FUNCTION}"


def test_delivery_prefix_routes_each_zone_to_its_own_prefix_by_arrival_hour():
    # The processor's zone key becomes the first folder: landing/YYYY/MM/dd/HH/ as before, and
    # quarantine/YYYY/MM/dd/HH/ for refused records.
    template = settings.DELIVERY_PREFIX_TEMPLATE
    for prefix in (settings.LANDING_PREFIX, settings.QUARANTINE_PREFIX):
        zone = prefix.rstrip("/")
        rendered = template.replace("!{partitionKeyFromLambda:zone}", zone)
        assert rendered == f"{prefix}!{{timestamp:yyyy/MM/dd/HH}}/"


def test_lifecycle_expires_landing_quarantine_and_errors(template):
    rules = props(template, "TransactionsBucket")["LifecycleConfiguration"]["Rules"]
    expiring = {r.get("Prefix") for r in rules if "ExpirationInDays" in r}
    assert settings.LANDING_PREFIX in expiring
    assert settings.QUARANTINE_PREFIX in expiring
    assert settings.PROCESSING_FAILED_PREFIX.split("/")[0] + "/" in expiring
    assert settings.ERROR_PREFIX_TEMPLATE.startswith("errors/")


def test_bucket_is_private_and_encrypted(template):
    bucket = props(template, "TransactionsBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_glue_columns_match_landing_fields(template):
    table = props(template, "TransactionsTable")["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [
        (name, schema.GLUE_TYPES[kind]) for name, kind in schema.LANDING_FIELDS.items()
    ]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["arrival_hour"]


def test_partition_projection_matches_compaction_layout(template):
    parameters = props(template, "TransactionsTable")["TableInput"]["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.arrival_hour.type"] == "date"
    # Java date format for the compactor's %Y-%m-%d-%H folders (arrival_hour=2026-11-27-09).
    assert parameters["projection.arrival_hour.format"] == "yyyy-MM-dd-HH"
    assert parameters["projection.arrival_hour.interval.unit"] == "HOURS"
    assert resolve(template, parameters["storage.location.template"]) == (
        f"s3://{settings.BUCKET}/{settings.CURATED_PREFIX}arrival_hour=${{arrival_hour}}/"
    )
    start = template["Parameters"]["ProjectionStartHour"]["Default"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}", start)


def test_firehose_delivers_plain_ndjson_through_the_processor(template):
    stream = props(template, "DeliveryStream")
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert s3["CompressionFormat"] == "UNCOMPRESSED"
    # Dynamic partitioning needs a buffer of at least 64 MiB.
    assert resolve(template, s3["BufferingHints"]["SizeInMBs"]) == "64"
    assert template["Parameters"]["DeliveryBufferSizeMiB"]["MinValue"] == 64
    assert resolve(template, s3["BufferingHints"]["IntervalInSeconds"]) == "60"
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    [processor] = s3["ProcessingConfiguration"]["Processors"]
    assert processor["Type"] == "Lambda"
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert params["LambdaArn"] == {"Fn::GetAtt": ["ProcessorFunction", "Arn"]}
    assert set(params) == {
        "LambdaArn",
        "NumberOfRetries",
        "BufferSizeInMBs",
        "BufferIntervalInSeconds",
    }
    assert all("Ref" in params[p] for p in params if p != "LambdaArn")


def test_processor_lambda_takes_its_key_from_secrets_manager(template):
    function = props(template, "ProcessorFunction")
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "handler.handler"
    assert set(function["Code"]) == {"S3Bucket", "S3Key"}
    assert all("Ref" in v for v in function["Code"].values())
    # The environment names the secret; the key itself is never in it (nor in a parameter).
    variables = function["Environment"]["Variables"]
    assert variables == {
        "TXVIZ_CARD_TOKEN_SECRET_ARN": {"Ref": "CardTokenKeySecret"},
        cardstore.TABLE_ENV: {"Ref": "CardHistoryTable"},
        fraudmodel.MODEL_BUCKET_ENV: {"Ref": "TransactionsBucket"},
    }
    assert not any("CardToken" in name for name in template["Parameters"])
    secret = template["Resources"]["CardTokenKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "SecretString" not in secret["Properties"]
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    # Only the processor may read it, and only it.
    assert grants(template, "secretsmanager") == [
        (
            "ProcessorRole",
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": {"Ref": "CardTokenKeySecret"},
            },
        )
    ]


def test_card_history_table_is_keyed_by_card_token_with_ttl_recovery_and_encryption(template):
    resource = template["Resources"]["CardHistoryTable"]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    table = resource["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": dynamostore.KEY, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": dynamostore.KEY, "AttributeType": "S"}
    ]
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": dynamostore.EXPIRES_AT,
        "Enabled": True,
    }
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Ref": "DataKey"},
    }


def test_only_the_processor_reads_and_writes_card_histories_in_batches(template):
    table_arn = {"Fn::GetAtt": ["CardHistoryTable", "Arn"]}
    # BatchGetItem to load; PutItem only inside TransactWriteItems (cardstore's conditional
    # batch writes): no per-record UpdateItem/GetItem, no deletes, no other table.
    assert grants(template, "dynamodb") == [
        (
            "ProcessorRole",
            {"Effect": "Allow", "Action": "dynamodb:BatchGetItem", "Resource": table_arn},
        ),
        (
            "ProcessorRole",
            {
                "Effect": "Allow",
                "Action": "dynamodb:PutItem",
                "Resource": table_arn,
                "Condition": {
                    "ForAnyValue:StringEquals": {
                        "dynamodb:EnclosingOperation": "TransactWriteItems"
                    }
                },
            },
        ),
    ]


def grants(template: dict[str, Any], service: str) -> list[tuple[str, dict[str, Any]]]:
    """(role, statement) of every statement of txviz's roles that names ``service``'s actions."""
    return [
        (role, statement)
        for role in ("ProcessorRole", "DeliveryRole", "QuickSightAthenaRole", "PipelinePolicy")
        for statement in statements(template, role)
        if f"{service}:" in str(statement["Action"])
    ]


def statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    properties = props(template, logical_id)
    if "PolicyDocument" in properties:  # a managed policy
        return properties["PolicyDocument"]["Statement"]
    return [s for p in properties["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_roles_grant_no_wildcard_actions_and_firehose_writes_only_its_prefixes(template):
    for role in ("ProcessorRole", "DeliveryRole", "QuickSightAthenaRole", "PipelinePolicy"):
        for statement in statements(template, role):
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            assert not any(a == "*" or a.endswith(":*") for a in actions), (role, actions)
    object_resources = [
        resolve(template, r)
        for s in statements(template, "DeliveryRole")
        if "s3:PutObject" in s["Action"]
        for r in s["Resource"]
    ]
    arn = "<TransactionsBucket.Arn>"
    assert sorted(object_resources) == [
        f"{arn}/errors/*",
        f"{arn}/landing/*",
        f"{arn}/quarantine/*",
    ]
    trust = props(template, "DeliveryRole")["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["StringEquals"]["sts:ExternalId"] == {"Ref": "AWS::AccountId"}


def test_pipeline_policy_covers_the_pipeline_prefixes_and_dataset(template):
    resources = [
        resolve(template, r)
        for s in statements(template, "PipelinePolicy")
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    arn = "<TransactionsBucket.Arn>/"
    for prefix in (
        settings.LANDING_PREFIX,
        settings.QUARANTINE_PREFIX,
        "errors/",
        settings.REPLAY_PREFIX,
    ):
        assert f"{arn}{prefix}*" in resources, prefix
    assert f"{arn}{settings.CURATED_PREFIX.split('/')[0]}/*" in resources
    dataset = f"dataset/{settings.QUICKSIGHT_DATASET_ID}"
    assert any(r.endswith(dataset) for r in resources)
    assert any(r.endswith(f"{dataset}/ingestion/*") for r in resources)
    # The refresh budget counts the day's ingestions before it starts one.
    quicksight = [a for st in statements(template, "PipelinePolicy") for a in st["Action"]]
    assert "quicksight:ListIngestions" in quicksight and "quicksight:CreateIngestion" in quicksight


def test_the_pipeline_publishes_fraud_models_where_the_processor_reads_them(template):
    models = f"<TransactionsBucket.Arn>/{settings.MODEL_VERSIONS_PREFIX.split('/')[0]}/fraud/*"
    assert settings.MODEL_CURRENT_KEY.startswith("models/fraud/")
    assert settings.MODEL_VERSIONS_PREFIX.startswith("models/fraud/")
    writes = [
        resolve(template, r)
        for s in statements(template, "PipelinePolicy")
        if "s3:PutObject" in s["Action"]
        for r in s["Resource"]
    ]
    assert models in writes
    reads = [
        (s["Action"], resolve(template, s["Resource"]))
        for s in statements(template, "ProcessorRole")
        if "s3:" in str(s["Action"])
    ]
    assert reads == [("s3:GetObject", models)]  # the processor reads models and nothing else


def test_quicksight_is_optional(template):
    quicksight = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"].startswith("AWS::QuickSight::") or logical_id.startswith("QuickSight")
    ]
    # The Athena role, data source, SPICE dataset, analysis and dashboard.
    assert len(quicksight) == 5
    assert all(template["Resources"][r]["Condition"] == "CreateQuickSight" for r in quicksight)
    assert template["Parameters"]["EnableQuickSight"]["Default"] == "false"
    # SPICE refreshes are txviz's alone (compaction_sensor, within the daily budget): no
    # QuickSight refresh schedule spends the same ingestion cap.
    assert not [r for r in template["Resources"].values() if r["Type"].endswith("RefreshSchedule")]


def test_alert_subscriptions_are_optional_parameters(template):
    subscriptions = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SNS::Subscription"
    }
    assert {
        r["Properties"]["Protocol"]: (r["Condition"], r["Properties"]["Endpoint"])
        for r in subscriptions.values()
    } == {
        "email": ("HasAlertEmail", {"Ref": "AlertEmail"}),
        "https": ("HasAlertWebhook", {"Ref": "AlertWebhookUrl"}),
    }
    assert all(
        r["Properties"]["TopicArn"] == {"Ref": "AlertsTopic"} for r in subscriptions.values()
    )
    for name in ("AlertEmail", "AlertWebhookUrl"):
        assert template["Parameters"][name]["Default"] == ""
    assert template["Conditions"]["HasAlertWebhook"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertWebhookUrl"}, ""]}]
    }


def test_pipeline_keeps_its_alerts_under_the_alerts_prefix(template):
    statements = props(template, "PipelinePolicy")["PolicyDocument"]["Statement"]
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    resources = [r for s in writes for r in s["Resource"]]
    assert {"Fn::Sub": f"${{TransactionsBucket.Arn}}/{settings.ALERTS_PREFIX}*"} in resources


def custom_sql(template: dict[str, Any]) -> dict[str, Any]:
    [table] = props(template, "QuickSightDataSet")["PhysicalTableMap"].values()
    return table["CustomSql"]


def normalise_sql(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


def test_dataset_sql_matches_dashboard_sql(template):
    # QuickSight's SPICE and the local SPICE must be built by the same statement.
    sql = custom_sql(template)["SqlQuery"]
    assert normalise_sql(sql) == normalise_sql(queries.DATASET_SQL)


def test_dataset_columns_match_the_dataset_sql(template):
    columns = {c["Name"]: c["Type"] for c in custom_sql(template)["Columns"]}
    assert tuple(columns) == queries.DATASET_COLUMNS
    # The landing fields, with the model's strongest reason beside all of them, then the hour.
    assert set(columns) == {*schema.LANDING_FIELDS, "arrival_hour", queries.TOP_REASON_COLUMN}
    for name, kind in schema.LANDING_FIELDS.items():
        # SPICE has no array type: the reasons (list<string>) arrive as text.
        assert columns[name] == QUICKSIGHT_TYPES.get(kind, "STRING"), name
    assert columns["arrival_hour"] == columns[queries.TOP_REASON_COLUMN] == "STRING"


def test_outputs_name_the_resources_txviz_needs(template):
    outputs = template["Outputs"]
    assert {"BucketName", "DeliveryStreamName", "AlertsTopicArn", "QuickSightDataSetId"} <= set(
        outputs
    )
    assert outputs["AlertsTopicArn"]["Value"] == {"Ref": "AlertsTopic"}


def test_template_passes_cfn_lint():
    matches = cfnlint.api.lint(TEMPLATE_PATH.read_text(), regions=["us-east-1", "eu-west-1"])
    problems = [m for m in matches if m.rule.id[0] in "EW"]
    assert not problems, "\n".join(
        f"{m.rule.id} line {m.linenumber}: {m.message}" for m in problems
    )


def test_pipeline_policy_lets_the_replay_write_and_resend_its_dead_letters(template):
    writable = {
        resolve(template, r)
        for s in statements(template, "PipelinePolicy")
        if {"s3:PutObject", "s3:DeleteObject"} <= set(s["Action"])
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    }
    assert f"<TransactionsBucket.Arn>/{settings.REPLAY_FAILED_PREFIX}*" in writable
    assert "<TransactionsBucket.Arn>/errors/*" not in writable  # Firehose's own error records
