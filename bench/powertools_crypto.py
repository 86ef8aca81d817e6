"""Powertools for AWS Lambda (Python) Data Masking, timed inside the process (interpreter start-up
and imports excluded), for make bench's reversible-masking comparison.

stdin {"op": "encrypt", "key_arn", "suite": "0478"|"0578", "values": N, "records": R, "fields": F}:
N values `encrypt(value, tenant="a")` after one warm-up (Powertools caches the data key), then R
records of F fields, each record sealed by a fresh provider (its own data key, as a record
sealed in another request). stdout {"encrypt_ms": [...], "records": [[...], ...]}.

stdin {"op": "decrypt", "key_arn", "records": [...]}: each record's fields decrypted with
`decrypt(value, tenant="a")` by one warmed-up masker, timed per record. stdout
{"decrypt_record_ms": [...]}.
"""

import json
import sys
import time

from aws_encryption_sdk.identifiers import Algorithm
from aws_lambda_powertools.utilities.data_masking import DataMasking
from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
    AWSEncryptionSDKProvider,
)

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}


def encrypt(request):
    arn = request["key_arn"]
    options = {"algorithm": SUITES[request["suite"]]}
    masker = DataMasking(provider=AWSEncryptionSDKProvider(keys=[arn]))
    masker.encrypt("warm-up", provider_options=options, tenant="a")
    encrypt_ms = []
    for _ in range(request["values"]):
        start = time.perf_counter()
        masker.encrypt("123-45-6789", provider_options=options, tenant="a")
        encrypt_ms.append((time.perf_counter() - start) * 1000)
    records = []
    for record in range(request["records"]):
        sealer = DataMasking(provider=AWSEncryptionSDKProvider(keys=[arn]))
        records.append(
            [
                sealer.encrypt(f"value {record}-{field}", provider_options=options, tenant="a")
                for field in range(request["fields"])
            ]
        )
    return {"encrypt_ms": encrypt_ms, "records": records}


def decrypt(request):
    masker = DataMasking(provider=AWSEncryptionSDKProvider(keys=[request["key_arn"]]))
    decrypt_ms = []
    for fields in request["records"]:
        start = time.perf_counter()
        for value in fields:
            masker.decrypt(value, tenant="a")
        decrypt_ms.append((time.perf_counter() - start) * 1000)
    return {"decrypt_record_ms": decrypt_ms}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(encrypt(request) if request["op"] == "encrypt" else decrypt(request), sys.stdout)
