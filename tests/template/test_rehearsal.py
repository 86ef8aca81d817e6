"""The deploy rehearsal: template.yaml packaged as `sam package` writes it (code in S3), transformed
as CloudFormation transforms it, and run through moto's CloudFormation (a moto server this test
starts on a loopback port): created twice under two stack names with default parameters and the
capabilities of samconfig.toml, updated the way `sam deploy` updates (loadtest's USER_NAME recorded
by the real `suitectl encrypt-env`, then a redeploy that does not mention it), and deleted.

moto's CloudFormation creates the IAM roles and policies, the KMS key and alias, the SSM
parameters, the DynamoDB table, the SQS queue, the log groups, the Lambda functions, their versions
and permissions. It passes over the Secrets Manager secrets, the HTTP API and its stage, the Cognito
pool and client, the functions' `live` aliases and their on-failure settings, the CloudWatch alarms
and the CodeDeploy application and deployment groups (test_deploy.py and test_template.py check their
names and policies on the template; `deploy.aliases_as_functions` points what names an alias at its
function, as the alias would resolve), leaves `${SuiteHttpApi}`
unresolved in outputs, and checks no capability: `deploy.missing_capabilities` stands in for
CloudFormation's check before each create and update. The secrets are the passed-over resources
whose names two stacks can collide on, so the rehearsal creates them itself in moto's Secrets
Manager, under the names the template gives them in that stack, and deletes them with the stack.

Run: .venv/bin/python -m unittest discover -s tests/template
"""

import base64
import json
import os
import shutil
import subprocess
import time
import unittest

import deploy

# The resource types moto's CloudFormation passes over (it logs "No Moto CloudFormation support").
NOT_IN_MOTO = {
    "AWS::SecretsManager::Secret",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::CloudWatch::Alarm",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
}


def suitectl(*args, env):
    """The suitectl binary, built as the end-to-end tests build the functions (`cargo build
    --bin`): their dependencies are built already, only suitectl itself compiles."""
    build = ["cargo", "build", "--locked", "--quiet", "--bin", "suitectl"]
    built = subprocess.run(build, cwd=deploy.ROOT, capture_output=True, text=True)
    if built.returncode != 0:
        # What cargo said goes into the failure itself: a test log's tail is often all there is.
        free = shutil.disk_usage(deploy.ROOT).free / 2**20
        raise AssertionError(
            f"{' '.join(build)} exited with {built.returncode} ({free:.0f} MiB free on the disk):\n"
            f"{built.stdout}{built.stderr}"
        )
    return subprocess.run(
        [str(deploy.ROOT / "target" / "debug" / "suitectl"), *args],
        cwd=deploy.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


class RehearsalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        stamp = f"{os.getpid()}-{int(time.time() * 1000)}"
        cls.dir = deploy.ROOT / "target" / "local-stack" / f"rehearsal-{stamp}"
        cls.dir.mkdir(parents=True)
        cls.moto = deploy.MotoServer(cls.dir)
        cls.addClassCleanup(cls.moto.stop)
        cls.cloudformation = cls.moto.client("cloudformation")
        cls.template = deploy.load_template()
        cls.config = deploy.deploy_config("default")
        # Two builds of the code: a redeploy after a rebuild uploads new bundles.
        s3 = cls.moto.client("s3")
        cls.builds = {}
        for build in ("build-1", "build-2"):
            s3.create_bucket(Bucket=build)
            packaged, keys = deploy.code_uris(cls.template, build)
            for key in set(keys.values()):
                s3.put_object(Bucket=build, Key=key, Body=deploy.bootstrap_zip() + build.encode())
            cls.builds[build] = packaged
        cls.secrets = {}

    def cfn(self, build, values):
        template = deploy.translate(self.builds[build], values)
        missing = deploy.missing_capabilities(template, self.config["capabilities"])
        self.assertEqual(missing, set(), "CloudFormation would refuse: InsufficientCapabilities")
        return deploy.dump(deploy.aliases_as_functions(template))

    def create(self, stack_name, overrides):
        values = deploy.parameter_values(self.template, overrides)
        template = self.cfn("build-1", values)
        # Every parameter given: moto keeps only given values for UsePreviousValue on update, where
        # CloudFormation also keeps defaulted ones.
        self.cloudformation.create_stack(
            StackName=stack_name,
            TemplateBody=template,
            Capabilities=self.config["capabilities"],
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in values.items()],
        )
        stack = self.describe(stack_name)
        self.assertEqual(stack["StackStatus"], "CREATE_COMPLETE", stack.get("StackStatusReason"))
        self.secrets[stack_name] = self.create_secrets(stack_name, json.loads(template), values)
        return stack

    def create_secrets(self, stack_name, cfn, values):
        """CloudFormation's part for the stack's secrets: each created under the name the template
        gives it in this stack (evaluated by moto's CloudFormation), so that a name another stack
        holds fails as the second stack's create fails on AWS (ResourceExistsException). The values
        are random, as generated ones are. Returns {logical id: name}."""
        secrets = self.moto.client("secretsmanager")
        names = {}
        for logical_id, resource in cfn["Resources"].items():
            if resource["Type"] != "AWS::SecretsManager::Secret":
                continue
            name = deploy.resolve(cfn, stack_name, values, resource["Properties"]["Name"])
            value = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True)["RandomPassword"]
            secrets.create_secret(Name=name, SecretString=value)
            names[logical_id] = name
        return names

    def update(self, stack_name, build, overrides):
        """`sam deploy` on an existing stack: its `merge_parameters` passes the overrides and asks
        CloudFormation to keep every other parameter's previous value."""
        from samcli.commands.deploy.deploy_context import DeployContext

        previous = {p["ParameterKey"]: p["ParameterValue"] for p in self.describe(stack_name)["Parameters"]}
        self.cloudformation.update_stack(
            StackName=stack_name,
            TemplateBody=self.cfn(build, {**previous, **overrides}),
            Capabilities=self.config["capabilities"],
            Parameters=DeployContext.merge_parameters(self.template, overrides),
        )
        stack = self.describe(stack_name)
        self.assertEqual(stack["StackStatus"], "UPDATE_COMPLETE", stack.get("StackStatusReason"))

    def expected_resources(self, stack_name, values):
        """The resources moto's CloudFormation creates for `values`: those of a type it supports
        whose condition, if any, holds."""
        cfn = json.loads(self.cfn("build-1", values))
        return {
            logical_id
            for logical_id, resource in cfn["Resources"].items()
            if resource["Type"] not in NOT_IN_MOTO
            and ("Condition" not in resource or deploy.resolve(cfn, stack_name, values, {"Fn::If": [resource["Condition"], True, False]}))
        }

    def describe(self, stack):
        return self.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]

    def outputs(self, stack_name):
        return {o["OutputKey"]: o["OutputValue"] for o in self.describe(stack_name).get("Outputs", [])}

    def resources(self, stack_name):
        summaries = self.cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        return {r["LogicalResourceId"]: r for r in summaries if r["LogicalResourceId"]}

    def delete(self, stack_name):
        stack_id = self.describe(stack_name)["StackId"]
        self.cloudformation.delete_stack(StackName=stack_name)
        stack = self.cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
        self.assertEqual(stack["StackStatus"], "DELETE_COMPLETE", stack.get("StackStatusReason"))
        # CloudFormation deletes a stack's secrets without a recovery window (README).
        secrets = self.moto.client("secretsmanager")
        for name in self.secrets.pop(stack_name).values():
            secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)

    def test_two_stacks_created_updated_and_deleted(self):
        first = self.config["stack_name"]
        second = f"{first}-second"
        # The second stack keeps per-tenant sessions: its conditional tenant-wide policy is created.
        overrides = {first: self.config["overrides"], second: {**self.config["overrides"], "TenantSessionScope": "tenant"}}
        physical = {}
        for stack_name in (first, second):
            self.create(stack_name, overrides[stack_name])
            resources = self.resources(stack_name)
            expected = self.expected_resources(stack_name, deploy.parameter_values(self.template, overrides[stack_name]))
            self.assertEqual("TenantQueryRoleTenantWide" in expected, stack_name == second)
            self.assertEqual(set(resources) & expected, expected, f"{stack_name}: not created")
            for logical_id in expected:
                self.assertEqual(resources[logical_id]["ResourceStatus"], "CREATE_COMPLETE", logical_id)
            physical[stack_name] = {r["PhysicalResourceId"] for r in resources.values() if r["PhysicalResourceId"]}
        self.assertEqual(physical[first] & physical[second], set(), "two stacks share a physical resource")
        # The secrets, loadtest's worker key among them, are the stack's own too.
        self.assertIn("LoadTestWorkerKeySecret", self.secrets[first])
        for stack_name in (first, second):
            for logical_id, name in self.secrets[stack_name].items():
                self.assertTrue(name.startswith(f"{stack_name}/"), f"{stack_name}: {logical_id} is {name}")

        # loadtest's reserved concurrency holds one full-width run: a coordinator and MAX_WORKERS.
        lambda_ = self.moto.client("lambda")
        function = self.outputs(first)["LoadTestFunctionName"]
        workers = int(lambda_.get_function_configuration(FunctionName=function)["Environment"]["Variables"]["MAX_WORKERS"])
        reserved = lambda_.get_function_concurrency(FunctionName=function)["ReservedConcurrentExecutions"]
        self.assertEqual(reserved, workers + 1)

        # `suitectl encrypt-env` finds the function and key in the stack's outputs and records the
        # ciphertext in (a copy of) samconfig.toml.
        samconfig = self.dir / "samconfig.toml"
        shutil.copy(deploy.SAMCONFIG, samconfig)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "AWS_REGION": deploy.REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "SUITECTL_ENCRYPT_VALUE": "student",
        }
        done = suitectl(
            "encrypt-env", "--stack-name", first, "--endpoint-url", self.moto.endpoint,
            "--samconfig", str(samconfig), "--config-env", "default",
            env=env,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("apply it to stack secure-lambda-suite with: sam deploy", done.stderr)
        self.assertNotIn("student", done.stderr + done.stdout)
        overrides = deploy.deploy_config("default", samconfig)["overrides"]
        ciphertext = overrides["LoadTestUserName"]

        # `sam deploy`: the variable reaches the function, encrypted for that function.
        self.update(first, "build-1", overrides)
        variables = lambda_.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        self.assertEqual(variables["USER_NAME"], ciphertext)
        plaintext = self.moto.client("kms").decrypt(
            CiphertextBlob=base64.b64decode(ciphertext), EncryptionContext={"LambdaFunctionName": function}
        )["Plaintext"]
        self.assertEqual(plaintext, b"student")

        # A redeploy of new code that does not mention the parameter (samconfig.toml of another
        # machine) keeps it.
        code = lambda_.get_function_configuration(FunctionName=function)["CodeSha256"]
        self.update(first, "build-2", {})
        configuration = lambda_.get_function_configuration(FunctionName=function)
        self.assertNotEqual(configuration["CodeSha256"], code, "the redeploy did not update the code")
        self.assertEqual(configuration["Environment"]["Variables"]["USER_NAME"], ciphertext)

        # `sam delete`, twice: what stays is what is retained, and the README names it.
        retained = {
            logical_id
            for logical_id, resource in json.loads(self.cfn("build-1", deploy.parameter_values(self.template, {})))["Resources"].items()
            # SAM retains the versions AutoPublishAlias publishes; Lambda deletes them with their
            # function.
            if resource.get("DeletionPolicy") == "Retain" and resource["Type"] != "AWS::Lambda::Version"
        }
        # FieldKey: deleting it would make every encrypted value of the customers unreadable.
        self.assertEqual(retained, {"OrdersTable", "UserPool", "DataKey", "FieldKey"})
        tables = {first: self.outputs(first)["OrdersTableName"], second: self.outputs(second)["OrdersTableName"]}
        for stack_name in (first, second):
            self.delete(stack_name)
        # Both stacks' names start with `first`.
        left = {
            "tables": self.moto.client("dynamodb").list_tables()["TableNames"],
            "functions": [f["FunctionName"] for f in lambda_.list_functions()["Functions"]],
            "parameters": [p["Name"] for p in self.moto.client("ssm").describe_parameters()["Parameters"]],
            "log groups": [g["logGroupName"] for g in self.moto.client("logs").describe_log_groups()["logGroups"]],
            "roles": [r["RoleName"] for r in self.moto.client("iam").list_roles()["Roles"]],
            "aliases": [a["AliasName"] for a in self.moto.client("kms").list_aliases()["Aliases"]],
        }
        left = {kind: sorted(n for n in names if first in n) for kind, names in left.items()}
        self.assertEqual(left, {**{kind: [] for kind in left}, "tables": sorted(tables.values())})
        readme = deploy.README.read_text()
        teardown = readme[readme.index("### What `sam delete` leaves") :]
        for logical_id in retained:
            self.assertIn(logical_id, teardown)

    def test_a_dev_stack_leaves_nothing(self):
        stack_name = "rehearsal-dev"
        self.create(stack_name, {**self.config["overrides"], "Stage": "dev"})
        table = self.outputs(stack_name)["OrdersTableName"]
        self.delete(stack_name)
        self.assertNotIn(table, self.moto.client("dynamodb").list_tables()["TableNames"])


if __name__ == "__main__":
    unittest.main()
