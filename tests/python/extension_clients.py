"""Reads values through the secrets extension exactly as AWS's documentation shows it: the
Parameter Store page's `urllib.request` snippet and the Secrets Manager page's `requests`
snippet, both at `localhost:$PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` with the session token.

stdin: a JSON list of cases, {"parameter": name, "decrypt": bool} or {"secret": id, "stage": s};
stdout: one JSON result per case, the parsed body the snippet returns.
"""

import json
import os
import sys
import urllib.parse
import urllib.request

import requests

PORT = os.environ["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]


def parameter(name, decrypt):
    # Parameter Store: "Using Parameter Store parameters in Lambda functions", Python example.
    encoded = urllib.parse.quote(name, safe="")
    flag = "true" if decrypt else "false"
    req = urllib.request.Request(
        f"http://localhost:{PORT}/systemsmanager/parameters/get?name={encoded}&withDecryption={flag}"
    )
    req.add_header("X-Aws-Parameters-Secrets-Token", os.environ.get("AWS_SESSION_TOKEN"))
    config = urllib.request.urlopen(req).read()
    return json.loads(config)


def secret(secret_id, stage):
    # Secrets Manager: "Use AWS Secrets Manager secrets in AWS Lambda functions", Python example.
    secrets_extension_endpoint = f"http://localhost:{PORT}/secretsmanager/get?secretId={secret_id}"
    if stage:
        secrets_extension_endpoint += f"&versionStage={stage}"
    headers = {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN")}
    r = requests.get(secrets_extension_endpoint, headers=headers)
    return json.loads(r.text)


def main():
    results = []
    for case in json.load(sys.stdin):
        if "parameter" in case:
            results.append(parameter(case["parameter"], case.get("decrypt", False)))
        else:
            results.append(secret(case["secret"], case.get("stage")))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
