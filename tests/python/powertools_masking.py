"""Powertools for AWS Lambda (Python) Data Masking as the other side of the interop test.

Reads {"key_arn": ..., "cases": [{"op": "encrypt"|"decrypt", "value": ..., "context": {...},
"suite": "0478"|"0578"}]} on stdin and writes one result per case on stdout: {"ok": value} or
{"error": "<exception class>"}. KMS is whatever AWS_ENDPOINT_URL points at.
"""

import json
import sys

from aws_encryption_sdk.identifiers import Algorithm
from aws_lambda_powertools.utilities.data_masking import DataMasking
from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
    AWSEncryptionSDKProvider,
)

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}


def main() -> None:
    request = json.load(sys.stdin)
    masker = DataMasking(provider=AWSEncryptionSDKProvider(keys=[request["key_arn"]]))
    results = []
    for case in request["cases"]:
        try:
            if case["op"] == "encrypt":
                options = {"algorithm": SUITES[case["suite"]]}
                value = masker.encrypt(case["value"], provider_options=options, **case["context"])
            else:
                value = masker.decrypt(case["value"], **case["context"])
            results.append({"ok": value})
        except Exception as error:  # the test asserts on the class name
            results.append({"error": type(error).__name__})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
