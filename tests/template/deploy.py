"""What `sam deploy` and CloudFormation do with template.yaml and samconfig.toml, offline.

Everything that has an implementation in the pinned tools is read from there rather than written
again here: samconfig.toml and its parameter_overrides through the SAM CLI's own config and option
types, parameter merging through `sam deploy`'s own `merge_parameters`, the SAM transform through
aws-sam-translator, and CloudFormation itself (intrinsic functions included) through moto's. The
one piece CloudFormation runs that moto does not is AWS::LanguageExtensions; the template uses it
only for DeletionPolicy and UpdateReplacePolicy, which `language_extensions` resolves with the SAM
CLI's implementation of the transform.
"""

import copy
import io
import json
import logging
import os
import pathlib
import socket
import subprocess
import time
import urllib.request
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
README = ROOT / "README.md"
ENV_JSON = ROOT / "env.json"
LOCAL_STACK = ROOT / "tests" / "local-stack.json"
VENV_BIN = ROOT / ".venv" / "bin"
REGION = "us-east-1"

os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
# The translator warns of metrics nobody publishes here.
logging.getLogger("samtranslator").setLevel(logging.ERROR)

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
POLICY_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy")


def load_template():
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def config_envs():
    """The configuration environments of samconfig.toml."""
    from samcli.lib.config.samconfig import SamConfig

    config = SamConfig(str(SAMCONFIG.parent), SAMCONFIG.name)
    config.get_all(["deploy"], "parameters")  # reads the file
    return config.get_stage_configuration_names()


def deploy_config(env, samconfig=SAMCONFIG):
    """`sam deploy --config-env <env>`'s settings: stack name, capabilities, parameter overrides,
    read and normalised by the SAM CLI's own config loader and option types."""
    from samcli.cli.types import CfnParameterOverridesType
    from samcli.lib.config.samconfig import SamConfig

    samconfig = pathlib.Path(samconfig)
    merged = SamConfig(str(samconfig.parent), samconfig.name).get_all(["deploy"], "parameters", env=env)
    capabilities = merged.get("capabilities", "")
    if isinstance(capabilities, str):
        capabilities = capabilities.split()
    overrides = CfnParameterOverridesType().convert(merged.get("parameter_overrides", ""), None, None)
    return {"stack_name": merged.get("stack_name"), "capabilities": list(capabilities), "overrides": overrides}


# The resource types CloudFormation makes a stack acknowledge with CAPABILITY_IAM, and the property
# that gives each a custom name, which needs CAPABILITY_NAMED_IAM instead ("Acknowledging IAM
# resources in CloudFormation templates").
IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::GroupPolicy": None,
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::RolePolicy": None,
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserPolicy": None,
    "AWS::IAM::UserToGroupAddition": None,
}


def missing_capabilities(cfn_template, granted):
    """The capabilities CloudFormation would name in InsufficientCapabilitiesException."""
    iam = [r for r in cfn_template["Resources"].values() if r["Type"] in IAM_TYPES]
    named = [r for r in iam if IAM_TYPES[r["Type"]] in r.get("Properties", {})]
    if named and "CAPABILITY_NAMED_IAM" not in granted:
        return {"CAPABILITY_NAMED_IAM"}
    if iam and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(granted):
        return {"CAPABILITY_IAM"}
    return set()


def parameter_values(template, overrides):
    """Every parameter's value for a create: the override, else the template's default."""
    values = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    values.update(overrides)
    return values


def language_extensions(template, values):
    """The template after AWS::LanguageExtensions as far as this template uses it: DeletionPolicy and
    UpdateReplacePolicy resolved for these parameter values, everything else untouched (the SAM
    CLI's expansion would also resolve `${AWS::StackName}` with a placeholder stack name)."""
    from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions

    result = copy.deepcopy(template)
    expanded = expand_language_extensions(
        copy.deepcopy(template), {"AWS::Region": REGION, **{k: v for k, v in values.items() if v is not None}}, enabled=True
    ).expanded_template
    for name, resource in result["Resources"].items():
        for attribute in POLICY_ATTRIBUTES:
            if attribute in resource:
                resource[attribute] = expanded["Resources"][name][attribute]
    transforms = result.get("Transform", [])
    result["Transform"] = [t for t in (transforms if isinstance(transforms, list) else [transforms]) if t != LANGUAGE_EXTENSIONS]
    return result


def code_uris(template, bucket):
    """`sam package`'s rewrite: every function's CodeUri becomes `s3://<bucket>/<binary>.zip`,
    every layer's ContentUri `s3://<bucket>/<layer>.zip`."""
    result = copy.deepcopy(template)
    keys = {}
    for name, resource in result["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            key = f"{resource['Metadata']['BuildProperties']['Binary']}.zip"
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{key}"
            keys[name] = key
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            key = f"{name}.zip"
            resource["Properties"]["ContentUri"] = f"s3://{bucket}/{key}"
            keys[name] = key
    return result, keys


def translate(template, values):
    """CloudFormation's view of the packaged template for these parameter values: language
    extensions, then the SAM transform (aws-sam-translator, as the AWS::Serverless transform runs it)."""
    import boto3
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class NoManagedPolicies(ManagedPolicyLoader):
        # The template names no managed policy; asking IAM for their ARNs would need an account.
        def load(self):
            return {}

    loader = NoManagedPolicies(boto3.client("iam", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"))
    return transform(language_extensions(template, values), {"AWS::Region": REGION, **values}, loader)


def resolve(template, stack_name, values, value):
    """`value` (which may name parameters, pseudo parameters and conditions, not resources) with its
    intrinsic functions evaluated as moto's CloudFormation evaluates them in stack `stack_name`."""
    from moto.cloudformation.parsing import ResourceMap, clean_json

    stack_id = f"arn:aws:cloudformation:{REGION}:123456789012:stack/{stack_name}/rehearsal"
    given = {k: str(v) for k, v in values.items() if v is not None}
    resources = ResourceMap(stack_id, stack_name, given, {}, REGION, "123456789012", template, None)
    resources.load_mapping()
    resources.load_parameters()
    resources.load_conditions()
    return clean_json(copy.deepcopy(value), resources)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto in server mode on a free loopback port, stopped on exit (also when a test fails)."""

    def __init__(self, log_dir):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(pathlib.Path(log_dir) / "moto.log", "wb")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=log_dir,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server did not start; see {self.log.name}")
                time.sleep(0.1)

    def client(self, service):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def bootstrap_zip():
    """A function bundle as `sam package` uploads it; moto stores it and never runs it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("bootstrap", "#!/bin/sh\n")
    return buffer.getvalue()


def aliases_as_functions(template):
    """The template with every reference to an `AWS::Lambda::Alias` pointed at the alias's function.

    moto's CloudFormation passes over aliases (`AutoPublishAlias` makes one per function), so a
    `Ref` to one resolves to nothing and the permissions and routes that name the alias fail to
    create. In Lambda an alias is a name for one version of its function; naming the function
    instead keeps every other resource of the stack as CloudFormation creates it."""
    resources = template["Resources"]
    functions = {
        logical_id: resource["Properties"]["FunctionName"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Alias"
    }

    def rewrite(value):
        if isinstance(value, dict):
            if set(value) == {"Ref"} and value["Ref"] in functions:
                return functions[value["Ref"]]
            return {key: rewrite(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    return {**template, "Resources": {
        logical_id: resource if logical_id in functions else rewrite(resource)
        for logical_id, resource in resources.items()
    }}


def dump(template):
    return json.dumps(template, default=str)
