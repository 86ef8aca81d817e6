"""What CloudFormation demands of template.yaml deployed with samconfig.toml, checked per
configuration environment on the template as CloudFormation receives it (SAM-translated).

Run: .venv/bin/python -m unittest discover -s tests/template
"""

import unittest

import deploy

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


def translated(env):
    config = deploy.deploy_config(env)
    template = deploy.load_template()
    values = deploy.parameter_values(template, config["overrides"])
    return deploy.translate(deploy.code_uris(template, "artifacts")[0], values), config


class CapabilitiesTest(unittest.TestCase):
    def test_every_config_env_grants_what_the_template_needs(self):
        envs = deploy.config_envs()
        self.assertIn("default", envs)
        for env in envs:
            with self.subTest(env=env):
                template, config = translated(env)
                self.assertTrue(config["stack_name"], f"{env}: no stack_name")
                missing = missing_capabilities(template, config["capabilities"])
                self.assertEqual(missing, set(), f"samconfig.toml [{env}] grants {config['capabilities']}, the template needs {missing}")

    def test_a_named_iam_resource_needs_named_iam(self):
        template, config = translated("default")
        self.assertEqual(missing_capabilities(template, config["capabilities"]), set())
        role = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role")
        role["Properties"]["RoleName"] = "named"
        self.assertEqual(missing_capabilities(template, ["CAPABILITY_IAM"]), {"CAPABILITY_NAMED_IAM"})
        self.assertEqual(missing_capabilities(template, ["CAPABILITY_NAMED_IAM"]), set())
        self.assertEqual(missing_capabilities(template, []), {"CAPABILITY_NAMED_IAM"})


if __name__ == "__main__":
    unittest.main()
