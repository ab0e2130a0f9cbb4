"""infra/dagster-ecs.yaml (Dagster on ECS Fargate) lints, and agrees with the production
dagster.yaml and workspace.yaml it runs, the Dockerfile's image and the txviz stack's names.

Nothing here deploys anything; checkov runs outside the suite (infra/README.md).
"""

from __future__ import annotations

import re
from typing import Any

import cfnlint.api
import pytest
import yaml
from cfnlint.decode import decode_str

from txviz_pipeline import settings
from txviz_pipeline.settings import REPO_ROOT
from txviz_pipeline_tests.infra.conftest import checkov_skips
from txviz_pipeline_tests.support.production_instance import DAGSTER_DIR

TEMPLATE_PATH = REPO_ROOT / "infra" / "dagster-ecs.yaml"
SERVICES = ("CodeServer", "Webserver", "Daemon")
TASKS = (*SERVICES, "Run")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert not errors, errors
    return parsed


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def container(template: dict[str, Any], task: str) -> dict[str, Any]:
    [definition] = props(template, f"{task}TaskDefinition")["ContainerDefinitions"]
    return definition


def env_names(config: Any) -> set[str]:
    """Every variable a Dagster YAML reads through ``{env: NAME}``."""
    if isinstance(config, dict):
        if set(config) == {"env"} and isinstance(config["env"], str):
            return {config["env"]}
        return set().union(*(env_names(v) for v in config.values())) if config else set()
    if isinstance(config, list):
        return set().union(*(env_names(v) for v in config)) if config else set()
    return set()


def instance_config() -> dict[str, Any]:
    return yaml.safe_load((DAGSTER_DIR / "dagster.yaml").read_text())


def test_template_passes_cfn_lint():
    matches = cfnlint.api.lint(TEMPLATE_PATH.read_text(), regions=["us-east-1", "eu-west-1"])
    assert not matches, "\n".join(str(m) for m in matches)


def test_every_process_gets_the_variables_the_instance_reads(template):
    config = instance_config()
    launcher_vars = env_names(config["run_launcher"])
    instance_vars = env_names(config) - launcher_vars
    workspace_vars = env_names(yaml.safe_load((DAGSTER_DIR / "workspace.yaml").read_text()))
    needs = {
        "CodeServer": instance_vars,
        "Run": instance_vars,
        # The launcher loads only where runs are launched or stopped.
        "Webserver": instance_vars | launcher_vars | workspace_vars,
        "Daemon": instance_vars | launcher_vars | workspace_vars,
    }
    for task, wanted in needs.items():
        c = container(template, task)
        given = {e["Name"] for e in c["Environment"]} | {s["Name"] for s in c["Secrets"]}
        assert wanted <= given, (task, wanted - given)


def test_database_credentials_come_only_from_the_generated_secret(template):
    secret = props(template, "DatabaseSecret")["GenerateSecretString"]
    assert secret["GenerateStringKey"] == "password"
    for task in TASKS:
        c = container(template, task)
        assert {s["Name"]: s["ValueFrom"] for s in c["Secrets"]} == {
            "DAGSTER_PG_USERNAME": {"Fn::Sub": "${DatabaseSecret}:username::"},
            "DAGSTER_PG_PASSWORD": {"Fn::Sub": "${DatabaseSecret}:password::"},
        }
        assert not any(re.search("PASSWORD|SECRET|KEY", e["Name"]) for e in c["Environment"])
    database = props(template, "Database")
    assert "{{resolve:secretsmanager:${DatabaseSecret}" in database["MasterUserPassword"]["Fn::Sub"]
    assert not any("Password" in name for name in template["Parameters"])
    assert database["PubliclyAccessible"] is False
    assert database["StorageEncrypted"] is True


def test_each_run_is_a_task_of_the_run_definition_the_daemon_may_start(template):
    launcher = instance_config()["run_launcher"]
    assert launcher["class"] == "EcsRunLauncher"
    assert container(template, "Run")["Name"] == launcher["config"]["container_name"]
    assert "Command" not in container(template, "Run")  # the launcher sets it per run
    family = props(template, "RunTaskDefinition")["Family"]["Fn::Sub"]
    [run_task] = [
        s
        for p in props(template, "ControlRole")["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Action") == "ecs:RunTask"
    ]
    assert run_task["Resource"]["Fn::Sub"].endswith(f":task-definition/{family}:*")
    daemon_env = {e["Name"]: e["Value"] for e in container(template, "Daemon")["Environment"]}
    assert daemon_env["DAGSTER_RUN_TASK_DEFINITION"] == {"Ref": "RunTaskDefinition"}


def test_pipeline_code_gets_the_pipeline_policy_and_the_servers_do_not(template):
    pipeline, logs = {"Ref": "PipelinePolicyArn"}, {"Ref": "ComputeLogPolicy"}
    assert props(template, "CodeServerRole")["ManagedPolicyArns"] == [pipeline, logs]
    assert props(template, "RunRole")["ManagedPolicyArns"] == [pipeline, logs]
    assert props(template, "ControlRole")["ManagedPolicyArns"] == [logs]
    roles = {task: props(template, f"{task}TaskDefinition")["TaskRoleArn"] for task in TASKS}
    assert roles == {
        "CodeServer": {"Fn::GetAtt": ["CodeServerRole", "Arn"]},
        "Webserver": {"Fn::GetAtt": ["ControlRole", "Arn"]},
        "Daemon": {"Fn::GetAtt": ["ControlRole", "Arn"]},
        "Run": {"Fn::GetAtt": ["RunRole", "Arn"]},
    }


def test_tasks_run_the_txviz_image_against_the_txviz_stack(template):
    assert template["Parameters"]["BucketName"]["Default"] == settings.BUCKET
    assert template["Parameters"]["DeliveryStreamName"]["Default"] == settings.DELIVERY_STREAM
    for task in TASKS:
        c = container(template, task)
        env = {e["Name"]: e["Value"] for e in c["Environment"]}
        assert c["Image"] == {"Ref": "ImageUri"}
        assert env["TXVIZ_MODE"] == "aws" and "aws" in settings.MODES
        assert env["TXVIZ_BUCKET"] == {"Ref": "BucketName"}
        assert env["TXVIZ_DELIVERY_STREAM"] == {"Ref": "DeliveryStreamName"}
        assert "AWS_ENDPOINT_URL" not in env


def test_nothing_is_reachable_from_the_internet(template):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            for rule in resource["Properties"].get("SecurityGroupIngress", []):
                assert "SourceSecurityGroupId" in rule, logical_id
        if resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            assert "SourceSecurityGroupId" in resource["Properties"], logical_id
    assert not any(
        r["Type"].startswith("AWS::ElasticLoadBalancing") for r in template["Resources"].values()
    )
    command = container(template, "Webserver")["Command"]
    assert command[command.index("--host") + 1] == settings.LOCALHOST
    assert props(template, "WebserverService")["EnableExecuteCommand"] is True


def test_servers_load_the_workspace_and_code_server_is_found_by_dns(template):
    workspace = "/opt/dagster/home/workspace.yaml"
    for task in ("Webserver", "Daemon"):
        command = container(template, task)["Command"]
        assert command[command.index("--workspace") + 1] == workspace
        env = {e["Name"]: e["Value"] for e in container(template, task)["Environment"]}
        host = env["DAGSTER_CODE_SERVER_HOST"]["Fn::Sub"]
        assert host == "code.${AWS::StackName}.dagster.internal"
        assert env["DAGSTER_CODE_SERVER_PORT"] == "4000"
    assert props(template, "CodeServerDiscovery")["Name"] == "code"
    assert props(template, "Namespace")["Name"] == {"Fn::Sub": "${AWS::StackName}.dagster.internal"}
    assert container(template, "CodeServer")["PortMappings"] == [
        {"ContainerPort": 4000, "Protocol": "tcp"}
    ]


def test_one_daemon_at_a_time(template):
    service = props(template, "DaemonService")
    assert service["DesiredCount"] == 1
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100


def test_only_the_webserver_has_a_writable_root(template):
    """The others write only to /tmp, the task's scratch volume (see the Dockerfile)."""
    for task in TASKS:
        c = container(template, task)
        if task == "Webserver":
            assert c["ReadonlyRootFilesystem"] is False  # ECS Exec's agent needs it
            continue
        assert c["ReadonlyRootFilesystem"] is True
        assert c["MountPoints"] == [{"SourceVolume": "scratch", "ContainerPath": "/tmp"}]


def test_logs_are_encrypted_with_the_stack_key_and_expire(template):
    group = props(template, "LogGroup")
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DagsterKey", "Arn"]}
    [logs_statement] = [
        s
        for s in props(template, "DagsterKey")["KeyPolicy"]["Statement"]
        if s["Sid"] == "CloudWatchLogsForTheDagsterLogGroup"
    ]
    arn = logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]["Fn::Sub"]
    assert arn.endswith(f":log-group:{group['LogGroupName']['Fn::Sub']}")
    for task in TASKS:
        options = container(template, task)["LogConfiguration"]["Options"]
        assert options["awslogs-group"] == {"Ref": "LogGroup"}
    [expiry] = [
        rule
        for rule in props(template, "ComputeLogBucket")["LifecycleConfiguration"]["Rules"]
        if rule["Id"] == "expire-compute-logs"
    ]
    assert expiry["ExpirationInDays"] == {"Ref": "ComputeLogRetentionDays"}


def test_every_checkov_skip_says_why(template):
    skips = checkov_skips(template)
    assert sorted((logical_id, skip["id"]) for logical_id, skip in skips) == [
        ("ComputeLogBucket", "CKV_AWS_18"),
        ("Database", "CKV_AWS_157"),
        ("Database", "CKV_AWS_161"),
    ]
    assert all(len(skip["comment"]) > 80 for _, skip in skips)
