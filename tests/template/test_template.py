"""Checks of template.yaml that cfn-lint does not make: least privilege and the suite's conventions.

Parsed with cfn-lint's own CloudFormation YAML decoder (short-form tags such as !Ref and !Sub).
Run: .venv/bin/python -m unittest discover -s tests/template
"""

import pathlib
import re
import unittest

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# Data-plane actions that must name their resources: a "*" resource for these is a finding.
SCOPED_PREFIXES = ("secretsmanager:", "ssm:", "kms:", "dynamodb:", "logs:", "lambda:", "sts:", "cognito-idp:")


def load():
    template, matches = decode(str(TEMPLATE))
    if matches:
        raise AssertionError(f"template does not parse: {matches}")
    return template


def as_list(value):
    return value if isinstance(value, list) else [value]


def resolve(value, conditions):
    """`value` with every `!If` on a condition named in `conditions` ({name: bool}) replaced by
    the branch it selects."""
    if isinstance(value, dict):
        if list(value) == ["Fn::If"] and value["Fn::If"][0] in conditions:
            name, when_true, when_false = value["Fn::If"]
            return resolve(when_true if conditions[name] else when_false, conditions)
        return {k: resolve(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, conditions) for v in value]
    return value


def role_statements(template):
    """(role, statement) for every statement a role gets: its inline policies, and the
    AWS::IAM::Policy resources attached to it (used where a grant names a resource whose own
    policy names the role)."""
    resources = template["Resources"]
    for name, resource in resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield name, statement
        elif resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"]["Roles"]:
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    yield role["Ref"], statement


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

    def test_secure_config_reads_one_secret_its_config_subtree_and_its_api_key(self):
        statements = [s for role, s in role_statements(self.template) if role == "SecureConfigRole"]
        secret = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
        self.assertEqual(len(secret), 1)
        self.assertEqual(secret[0]["Resource"], {"Ref": "DbCredentialsSecret"})
        ssm = [s for s in statements if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
        self.assertEqual(len(ssm), 1)
        arns = sorted(r["Fn::Sub"][0] for r in as_list(ssm[0]["Resource"]))
        self.assertEqual(
            [arn.split(":parameter", 1)[1] for arn in arns],
            ["${Path}/config/*", "${Path}/secrets/api-key"],
        )
        # ...where ${Path} is the stack's parameter path, as the parameters' own names use it.
        path = {str(r["Fn::Sub"][1]["Path"]) for r in as_list(ssm[0]["Resource"])}
        self.assertEqual(path, {str(self.resources["ApiUrlParameter"]["Properties"]["Name"]["Fn::Sub"][1]["Path"])})
        writes = [a for s in statements for a in as_list(s["Action"]) if a.startswith(("secretsmanager:Put", "ssm:Put"))]
        self.assertEqual(writes, [], "secure-config must not write secrets or parameters")

    def test_data_masking_memory_holds_the_largest_request_it_accepts(self):
        # The figures the template's comment on DataMaskingFunction's MemorySize gives: the
        # process's growth per payload byte (bound of tests/tests/coldstart_smoke.rs, runtime
        # loop included), its RSS before the request, and 2x headroom.
        rss_per_payload, before_mb, headroom = 3.0, 11.0, 2.0
        largest_mb = self.template["Parameters"]["MaxMaskBodyBytes"]["MaxValue"] / 1_000_000
        function = self.resources["DataMaskingFunction"]["Properties"]
        memory = function.get("MemorySize", self.template["Globals"]["Function"]["MemorySize"])
        needed = headroom * (before_mb + rss_per_payload * largest_mb)
        self.assertLessEqual(needed, memory, f"{largest_mb} MB requests need {needed:.1f} MB")
        # Lambda's synchronous payload limit bounds the parameter.
        self.assertLessEqual(largest_mb, 6.0)

    def test_every_checkov_skip_says_why(self):
        skips = [
            (logical_id, skip)
            for logical_id, resource in self.resources.items()
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        ]
        self.assertTrue(skips)
        for logical_id, skip in skips:
            with self.subTest(resource=logical_id, check=skip.get("id")):
                self.assertRegex(skip.get("id", ""), r"^CKV_AWS_\d+$")
                self.assertGreaterEqual(len(skip.get("comment", "").split()), 12, "a skip needs its reason")

    def test_data_masking_reads_only_its_key_and_its_route_is_signed(self):
        statements = [s for role, s in role_statements(self.template) if role == "DataMaskingRole"]
        data_actions = [s for s in statements if any(a.startswith(("secretsmanager:", "ssm:", "dynamodb:")) for a in as_list(s["Action"]))]
        self.assertEqual(len(data_actions), 1)
        self.assertEqual(as_list(data_actions[0]["Action"]), ["secretsmanager:GetSecretValue"])
        self.assertEqual(data_actions[0]["Resource"], {"Ref": "MaskingKeySecret"})
        # Its KMS use: that secret through Secrets Manager, and the failed-events queue.
        contexts = [
            s["Condition"]["StringEquals"]
            for s in statements
            if any(a.startswith("kms:") for a in as_list(s["Action"]))
        ]
        self.assertEqual(
            sorted(str(c) for c in contexts),
            sorted(str(c) for c in [
                {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}, "kms:EncryptionContext:SecretARN": {"Ref": "MaskingKeySecret"}},
                {"kms:ViaService": {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}, "kms:EncryptionContext:aws:sqs:arn": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}},
            ]),
        )
        events = self.resources["DataMaskingFunction"]["Properties"]["Events"]
        routes = {(e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"].get("Auth", {}) for e in events.values()}
        self.assertEqual(
            routes,
            {("POST", "/mask"): {"Authorizer": "AWS_IAM"}, ("POST", "/encrypt"): {"Authorizer": "CognitoIdToken"}},
        )

    def test_field_key_is_used_only_by_its_two_roles_each_for_one_operation_under_a_tenant_context(self):
        statements = self.resources["FieldKey"]["Properties"]["KeyPolicy"]["Statement"]
        uses = {}
        for statement in statements:
            principal = statement["Principal"]["AWS"]
            actions = as_list(statement["Action"])
            if principal == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}:
                # The account administers it: no use of the key, no grants, no wildcard.
                for action in actions:
                    self.assertFalse(
                        action in ("kms:*", "kms:CreateGrant") or action.startswith(("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt", "kms:GenerateDataKey", "kms:Create")) and action != "kms:CreateAlias",
                        action,
                    )
                continue
            self.assertEqual(statement["Condition"], {"Null": {"kms:EncryptionContext:tenant": "false"}})
            uses[principal["Fn::GetAtt"][0]] = actions
        self.assertEqual(uses, {"DataMaskingRole": ["kms:GenerateDataKey"], "DataDecryptRole": ["kms:Decrypt"]})
        # No IAM policy names the key: its key policy is the only grant.
        for role, statement in role_statements(self.template):
            self.assertNotIn("FieldKey", str(statement.get("Resource")), role)

    def test_decrypt_is_its_own_function_and_route(self):
        function = self.resources["DataDecryptFunction"]
        props = function["Properties"]
        self.assertEqual(function["Metadata"]["BuildProperties"]["Binary"], "data-masking")
        self.assertEqual(props["Environment"]["Variables"]["DATA_MASKING_MODE"], "decrypt")
        self.assertEqual(props["Role"], {"Fn::GetAtt": ["DataDecryptRole", "Arn"]})
        routes = {(e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"]["Auth"] for e in props["Events"].values()}
        self.assertEqual(routes, {("POST", "/decrypt"): {"Authorizer": "CognitoIdToken"}})
        masking = self.resources["DataMaskingFunction"]["Properties"]["Environment"]["Variables"]
        self.assertNotIn("DATA_MASKING_MODE", masking)
        for variables in (masking, props["Environment"]["Variables"]):
            self.assertEqual(variables["ENCRYPTION_KEY_ARN"], {"Fn::GetAtt": ["FieldKey", "Arn"]})

    def tenant_role_statements(self, per_tenant):
        """Every statement the tenant role holds in a stack of either session scope."""
        statements = [
            s
            for name, resource in self.resources.items()
            if self.template["Conditions"].get(resource.get("Condition")) is None or per_tenant
            for role, s in role_statements({"Resources": {name: resource}})
            if role == "TenantQueryRole"
        ]
        return resolve(statements, {"PerTenantSessions": per_tenant})

    def test_tenant_scoped_role_reads_only_the_tagged_partition(self):
        per_user = self.tenant_role_statements(per_tenant=False)
        # The table's key, through DynamoDB only, in either scope.
        kms = [s for s in per_user if as_list(s["Action"]) == ["kms:Decrypt"]]
        self.assertEqual(len(kms), 1)
        self.assertEqual(kms[0]["Resource"], {"Fn::GetAtt": ["DataKey", "Arn"]})
        self.assertEqual(kms[0]["Condition"], {"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}})
        per_user = [s for s in per_user if s is not kms[0]]
        self.assertEqual(len(per_user), 1)
        for statement in self.tenant_role_statements(per_tenant=True):
            if as_list(statement["Action"]) == ["kms:Decrypt"]:
                continue
            self.assertEqual(sorted(as_list(statement["Action"])), ["dynamodb:GetItem", "dynamodb:Query"])
            self.assertEqual(statement["Resource"], {"Fn::GetAtt": ["OrdersTable", "Arn"]})
        condition = per_user[0]["Condition"]
        self.assertEqual(
            condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"],
            ["TENANT#${aws:PrincipalTag/TenantId}#USER#${aws:PrincipalTag/UserId}"],
        )
        self.assertEqual(condition["Null"], {"dynamodb:LeadingKeys": "false"})

    def test_per_tenant_sessions_read_their_tenant_only_and_only_when_chosen(self):
        parameter = self.template["Parameters"]["TenantSessionScope"]
        self.assertEqual((parameter["Default"], parameter["AllowedValues"]), ("user", ["user", "tenant"]))
        self.assertEqual(self.template["Conditions"]["PerTenantSessions"], {"Fn::Equals": [{"Ref": "TenantSessionScope"}, "tenant"]})
        self.assertEqual(self.resources["TenantQueryRoleTenantWide"]["Condition"], "PerTenantSessions")
        per_user = self.tenant_role_statements(per_tenant=False)
        tenant_wide = [s for s in self.tenant_role_statements(per_tenant=True) if s not in per_user]
        self.assertEqual(len(tenant_wide), 1)
        self.assertEqual(sorted(as_list(tenant_wide[0]["Action"])), ["dynamodb:GetItem", "dynamodb:Query"])
        self.assertEqual(tenant_wide[0]["Resource"], {"Fn::GetAtt": ["OrdersTable", "Arn"]})
        condition = tenant_wide[0]["Condition"]
        self.assertEqual(
            condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
            ["TENANT#${aws:PrincipalTag/TenantId}#USER#*"],
        )
        # Only sessions without a user tag: a per-user session never gains its tenant's partitions.
        self.assertEqual(condition["Null"], {"dynamodb:LeadingKeys": "false", "aws:PrincipalTag/UserId": "true"})
        variables = self.resources["MultiTenantQueryFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["TENANT_SESSION_SCOPE"], {"Ref": "TenantSessionScope"})

    def test_the_session_length_is_the_tenant_roles_maximum(self):
        role = self.resources["TenantQueryRole"]["Properties"]
        variables = self.resources["MultiTenantQueryFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(role["MaxSessionDuration"], {"Ref": "TenantSessionSeconds"})
        self.assertEqual(variables["TENANT_SESSION_SECONDS"], {"Ref": "TenantSessionSeconds"})
        parameter = self.template["Parameters"]["TenantSessionSeconds"]
        self.assertEqual((parameter["MinValue"], parameter["MaxValue"]), (3600, 43200))

    def test_only_the_function_role_may_assume_the_tenant_role_with_exactly_its_tags(self):
        statements = self.resources["TenantQueryRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        for per_tenant, keys in [(False, ["TenantId", "UserId"]), (True, ["TenantId"])]:
            trust = resolve(statements, {"PerTenantSessions": per_tenant})
            self.assertEqual(len(trust), 1)
            self.assertEqual(trust[0]["Principal"], {"AWS": {"Fn::GetAtt": ["MultiTenantQueryRole", "Arn"]}})
            self.assertEqual(sorted(as_list(trust[0]["Action"])), ["sts:AssumeRole", "sts:TagSession"])
            self.assertEqual(trust[0]["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"], keys)
            self.assertEqual(set(trust[0]["Condition"]["StringLike"]), {f"aws:RequestTag/{k}" for k in keys})

    def test_multi_tenant_query_role_has_no_data_access_of_its_own(self):
        statements = [s for role, s in role_statements(self.template) if role == "MultiTenantQueryRole"]
        actions = [a for s in statements for a in as_list(s["Action"])]
        self.assertFalse([a for a in actions if a.startswith("dynamodb:")], actions)
        assume = [s for s in statements if "sts:AssumeRole" in as_list(s["Action"])]
        self.assertEqual(len(assume), 1)
        self.assertEqual(assume[0]["Resource"], {"Fn::GetAtt": ["TenantQueryRole", "Arn"]})
        function = self.resources["MultiTenantQueryFunction"]
        self.assertEqual(function["Properties"]["Environment"]["Variables"]["TENANT_ROLE_ARN"], {"Fn::GetAtt": ["TenantQueryRole", "Arn"]})
        self.assertEqual(function["DependsOn"], "MultiTenantQueryAssumesTenantRole", "invocable before it may assume the role")

    def test_orders_table_and_user_pool_settings(self):
        table = self.resources["OrdersTable"]["Properties"]
        self.assertTrue(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        self.assertTrue(table["SSESpecification"]["SSEEnabled"])
        schema = {a["Name"]: a for a in self.resources["UserPool"]["Properties"]["Schema"]}
        self.assertFalse(schema["tenantId"]["Mutable"])
        client = self.resources["UserPoolClient"]["Properties"]
        self.assertNotIn("custom:tenantId", client["WriteAttributes"])
        self.assertIn("custom:tenantId", client["ReadAttributes"])

    def test_orders_route_requires_a_cognito_id_token(self):
        events = self.resources["MultiTenantQueryFunction"]["Properties"]["Events"]
        routes = {(e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"]["Auth"] for e in events.values()}
        self.assertEqual(routes, {("GET", "/orders"): {"Authorizer": "CognitoIdToken"}})
        authorizer = self.resources["SuiteHttpApi"]["Properties"]["Auth"]["Authorizers"]["CognitoIdToken"]
        self.assertEqual(authorizer["JwtConfiguration"]["audience"], [{"Ref": "UserPoolClient"}])

    def test_user_name_key_decrypts_only_for_loadtest_with_its_context(self):
        key = self.resources["UserNameKey"]["Properties"]
        self.assertTrue(key["EnableKeyRotation"])
        decrypt = [s for s in key["KeyPolicy"]["Statement"] if "kms:Decrypt" in as_list(s["Action"])]
        self.assertEqual(len(decrypt), 1)
        self.assertEqual(decrypt[0]["Principal"], {"AWS": {"Fn::GetAtt": ["LoadTestRole", "Arn"]}})
        self.assertEqual(
            decrypt[0]["Condition"]["StringEquals"]["kms:EncryptionContext:LambdaFunctionName"],
            {"Fn::Sub": "${AWS::StackName}-loadtest"},
        )
        admin = [s for s in key["KeyPolicy"]["Statement"] if s is not decrypt[0]]
        self.assertFalse([a for s in admin for a in as_list(s["Action"]) if a in ("kms:*", "kms:Decrypt")])

    def test_loadtest_role_is_scoped(self):
        statements = [s for role, s in role_statements(self.template) if role == "LoadTestRole"]
        by_action = {a: s for s in statements for a in as_list(s["Action"])}
        self.assertIn("-loadtest", str(by_action["lambda:InvokeFunction"]["Resource"]))
        self.assertIn("kms:EncryptionContext:LambdaFunctionName", by_action["kms:Decrypt"]["Condition"]["StringEquals"])
        self.assertEqual(by_action["kms:Decrypt"]["Resource"], {"Fn::GetAtt": ["UserNameKey", "Arn"]})
        secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
        resources = sorted(str(r) for s in secret_reads for r in as_list(s["Resource"]))
        self.assertEqual(
            resources,
            sorted([
                str({"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/loadtest-users/*"}),
                str({"Ref": "LoadTestWorkerKeySecret"}),
            ]),
        )
        variables = self.resources["LoadTestFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["PASSWORD_SECRET_PREFIX"], {"Fn::Sub": "${AWS::StackName}/loadtest-users/"})
        self.assertEqual(self.resources["LoadTestFunction"]["DependsOn"], "LoadTestDecryptsUserName")
        self.assertFalse([a for a in by_action if a.startswith(("dynamodb:", "ssm:"))])

    def test_only_loadtest_reads_its_generated_worker_key(self):
        key = self.resources["LoadTestWorkerKeySecret"]
        self.assertEqual(key["Type"], "AWS::SecretsManager::Secret")
        self.assertGreaterEqual(key["Properties"]["GenerateSecretString"]["PasswordLength"], 32)
        readers = {role for role, s in role_statements(self.template) if {"Ref": "LoadTestWorkerKeySecret"} in as_list(s.get("Resource"))}
        self.assertEqual(readers, {"LoadTestRole"})
        env = self.resources["LoadTestFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["WORKER_KEY_SECRET_ID"], {"Ref": "LoadTestWorkerKeySecret"})

    def test_loadtest_concurrency_is_reserved_for_one_full_run(self):
        props = self.resources["LoadTestFunction"]["Properties"]
        workers = int(props["Environment"]["Variables"]["MAX_WORKERS"])
        self.assertEqual(props["ReservedConcurrentExecutions"], workers + 1)

    def test_user_name_is_a_no_echo_parameter_whose_default_loadtest_refuses(self):
        parameter = self.template["Parameters"]["LoadTestUserName"]
        self.assertTrue(parameter["NoEcho"])
        variables = self.resources["LoadTestFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["USER_NAME"], {"Ref": "LoadTestUserName"})
        config = (ROOT / "crates/loadtest/src/config.rs").read_text()
        placeholder = re.search(r'pub const USER_NAME_PLACEHOLDER: &str = "([^"]*)";', config)
        self.assertIsNotNone(placeholder, "USER_NAME_PLACEHOLDER not found in loadtest's config.rs")
        self.assertEqual(parameter["Default"], placeholder.group(1))

    def test_log_permissions_name_the_log_streams_of_the_functions_own_group(self):
        groups = {n for n, r in self.resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
        granted = set()
        for role, statement in role_statements(self.template):
            if "logs:PutLogEvents" not in as_list(statement["Action"]):
                continue
            # A log group's Arn attribute already ends in ":*"; the stream ARN is spelled out.
            match = re.fullmatch(
                r"arn:\$\{AWS::Partition\}:logs:\$\{AWS::Region\}:\$\{AWS::AccountId\}:log-group:\$\{(\w+)\}:log-stream:\*",
                statement["Resource"]["Fn::Sub"],
            )
            self.assertIsNotNone(match, f"{role}: {statement['Resource']}")
            self.assertIn(match.group(1), groups)
            granted.add((role, match.group(1)))
        functions = self.functions().values()
        owned = {(f["Properties"]["Role"]["Fn::GetAtt"][0], f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]) for f in functions}
        self.assertEqual(granted, owned)

    def test_api_stage_throttling_is_set_by_parameters(self):
        settings = self.resources["SuiteHttpApi"]["Properties"]["DefaultRouteSettings"]
        self.assertEqual(settings["ThrottlingRateLimit"], {"Ref": "ApiThrottlingRateLimit"})
        self.assertEqual(settings["ThrottlingBurstLimit"], {"Ref": "ApiThrottlingBurstLimit"})


if __name__ == "__main__":
    unittest.main()
