"""Checks of template.yaml that cfn-lint does not make: least privilege and the suite's conventions.

Parsed with cfn-lint's own CloudFormation YAML decoder (short-form tags such as !Ref and !Sub).
Run: .venv/bin/python -m unittest discover -s tests/template
"""

import pathlib
import unittest

from cfnlint.decode import decode

TEMPLATE = pathlib.Path(__file__).resolve().parents[2] / "template.yaml"

# Data-plane actions that must name their resources: a "*" resource for these is a finding.
SCOPED_PREFIXES = ("secretsmanager:", "ssm:", "kms:", "dynamodb:", "logs:", "lambda:", "sts:", "cognito-idp:")


def load():
    template, matches = decode(str(TEMPLATE))
    if matches:
        raise AssertionError(f"template does not parse: {matches}")
    return template


def as_list(value):
    return value if isinstance(value, list) else [value]


def role_statements(template):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


class TemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load()
        cls.resources = cls.template["Resources"]

    def functions(self):
        return {n: r for n, r in self.resources.items() if r["Type"] == "AWS::Serverless::Function"}

    def test_no_broad_managed_policies(self):
        for name, resource in self.resources.items():
            props = resource.get("Properties", {})
            for arn in as_list(props.get("ManagedPolicyArns", [])) + as_list(props.get("Policies", [])):
                text = str(arn)
                for broad in ("ReadWrite", "FullAccess", "ReadOnlyAccess", "PowerUser", "AdministratorAccess"):
                    self.assertNotIn(broad, text, f"{name} uses a broad managed policy: {text}")

    def test_no_wildcard_actions_or_resources_on_data_planes(self):
        for role, statement in role_statements(self.template):
            if statement.get("Effect") != "Allow":
                continue
            actions = as_list(statement["Action"])
            for action in actions:
                self.assertNotEqual(action, "*", f"{role}: Action *")
                self.assertFalse(action.endswith(":*"), f"{role}: service wildcard {action}")
            if any(a.startswith(SCOPED_PREFIXES) for a in actions):
                for resource in as_list(statement["Resource"]):
                    self.assertNotEqual(resource, "*", f"{role}: {actions} on Resource *")

    def test_every_function_has_its_own_role_and_the_runtime_conventions(self):
        functions = self.functions()
        self.assertTrue(functions, "no functions in the template")
        globals_ = self.template.get("Globals", {}).get("Function", {})
        roles = set()
        for name, function in functions.items():
            props = {**globals_, **function["Properties"]}
            self.assertEqual(props["Runtime"], "provided.al2023", name)
            self.assertEqual(props["Architectures"], ["arm64"], name)
            self.assertEqual(function["Metadata"]["BuildMethod"], "rust-cargolambda", name)
            self.assertEqual(props["LoggingConfig"]["LogFormat"], "JSON", name)
            self.assertIn("Role", props, f"{name} must have an explicit least-privilege role")
            roles.add(str(props["Role"]))
        self.assertEqual(len(roles), len(functions), "functions must not share a role")

    def test_secret_values_are_generated_not_written(self):
        for name, resource in self.resources.items():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                props = resource["Properties"]
                self.assertNotIn("SecretString", props, f"{name} has a literal value")
                self.assertIn("GenerateSecretString", props, name)

    def test_secure_config_reads_one_secret_and_one_parameter_path(self):
        statements = [s for role, s in role_statements(self.template) if role == "SecureConfigRole"]
        secret = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
        self.assertEqual(len(secret), 1)
        self.assertEqual(secret[0]["Resource"], {"Ref": "DbCredentialsSecret"})
        ssm = [s for s in statements if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
        self.assertEqual(len(ssm), 1)
        for resource in as_list(ssm[0]["Resource"]):
            self.assertIn("parameter${AppParameterPath}", str(resource))
        writes = [a for s in statements for a in as_list(s["Action"]) if a.startswith(("secretsmanager:Put", "ssm:Put"))]
        self.assertEqual(writes, [], "secure-config must not write secrets or parameters")

    def test_data_masking_reads_only_its_key_and_its_route_is_signed(self):
        statements = [s for role, s in role_statements(self.template) if role == "DataMaskingRole"]
        data_actions = [s for s in statements if any(a.startswith(("secretsmanager:", "ssm:", "kms:", "dynamodb:")) for a in as_list(s["Action"]))]
        self.assertEqual(len(data_actions), 1)
        self.assertEqual(as_list(data_actions[0]["Action"]), ["secretsmanager:GetSecretValue"])
        self.assertEqual(data_actions[0]["Resource"], {"Ref": "MaskingKeySecret"})
        events = self.resources["DataMaskingFunction"]["Properties"]["Events"]
        routes = {(e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"].get("Auth", {}) for e in events.values()}
        self.assertEqual(routes, {("POST", "/mask"): {"Authorizer": "AWS_IAM"}})


if __name__ == "__main__":
    unittest.main()
