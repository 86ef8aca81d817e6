"""Writes ESDK message vectors with the AWS Encryption SDK for Python (the reference
implementation Powertools Data Masking runs on), for crates/secure-lambda/tests/esdk_vectors.rs.

The data keys are wrapped the way the Rust tests' in-memory KMS (`crypto::fake::FakeKms`) wraps
them: AES-256-GCM under SHA-256(key ARN), AAD = ARN, a zero byte, the serialized encryption
context (public key included), the 12-byte nonce first. So the Rust side opens the messages
offline, with no KMS, and every byte of header, body and footer is the Python ESDK's.

Run: .venv/bin/python tests/python/esdk_vectors.py > crates/secure-lambda/tests/vectors/esdk-python.json
"""

import base64
import hashlib
import io
import json
import os
import sys

import attr
import aws_encryption_sdk
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy
from aws_encryption_sdk.internal.formatting.encryption_context import serialize_encryption_context
from aws_encryption_sdk.key_providers.base import MasterKey, MasterKeyConfig, MasterKeyProvider, MasterKeyProviderConfig
from aws_encryption_sdk.structures import DataKey, EncryptedDataKey, MasterKeyInfo
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ARN = "arn:aws:kms:eu-west-1:210987654321:key/ffffffff-12ab-34cd-56ef-1234567890ab"


@attr.s(hash=True)
class FakeKmsKeyConfig(MasterKeyConfig):
    """A key id: the ARN."""

    provider_id = "aws-kms"


class FakeKmsKey(MasterKey):
    """An `aws-kms` master key whose data keys are wrapped as FakeKms wraps them."""

    provider_id = "aws-kms"
    _config_class = FakeKmsKeyConfig

    def _wrapping(self):
        return AESGCM(hashlib.sha256(self.key_id).digest())

    def _aad(self, encryption_context):
        return self.key_id + b"\0" + serialize_encryption_context(encryption_context)

    def _generate_data_key(self, algorithm, encryption_context):
        plaintext = os.urandom(algorithm.kdf_input_len)
        encrypted = self._encrypt_data_key(
            DataKey(key_provider=self.key_provider, data_key=plaintext, encrypted_data_key=b""),
            algorithm,
            encryption_context,
        )
        return DataKey(key_provider=self.key_provider, data_key=plaintext, encrypted_data_key=encrypted.encrypted_data_key)

    def _encrypt_data_key(self, data_key, algorithm, encryption_context):
        nonce = os.urandom(12)
        sealed = self._wrapping().encrypt(nonce, data_key.data_key, self._aad(encryption_context))
        return EncryptedDataKey(key_provider=self.key_provider, encrypted_data_key=nonce + sealed)

    def _decrypt_data_key(self, encrypted_data_key, algorithm, encryption_context):
        blob = encrypted_data_key.encrypted_data_key
        plaintext = self._wrapping().decrypt(blob[:12], blob[12:], self._aad(encryption_context))
        return DataKey(key_provider=self.key_provider, data_key=plaintext, encrypted_data_key=blob)


@attr.s(hash=True)
class FakeKmsProviderConfig(MasterKeyProviderConfig):
    """No settings."""


class FakeKmsProvider(MasterKeyProvider):
    """Several FakeKmsKeys: the first generates, the others wrap the same data key too."""

    provider_id = "aws-kms"
    _config_class = FakeKmsProviderConfig

    def _new_master_key(self, key_id):
        return FakeKmsKey(key_id=key_id)


def provider(arns):
    keys = FakeKmsProvider()
    for arn in arns:
        keys.add_master_key(arn.encode())
    return keys


SUITES = {
    "0x0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0x0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    # Refused by the Rust side (no key commitment), written here to prove it.
    "0x0178": Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    "0x0378": Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
}


def plaintext(length):
    # Every byte value, and multi-byte UTF-8 where the length allows.
    text = ("é山🚀" * (length // 9 + 1)).encode()[: max(0, length - 256)]
    return (bytes(range(256)) * (length // 256 + 1))[: length - len(text)] + text


def vector(name, suite, length, context, frame_length=4096, arns=(ARN,), expect="ok"):
    data = plaintext(length)
    policy = (
        CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if suite in ("0x0478", "0x0578")
        else CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)
    ciphertext, header = client.encrypt(
        source=data,
        key_provider=provider(arns),
        encryption_context=context,
        algorithm=SUITES[suite],
        frame_length=frame_length,
    )
    # The Python ESDK reads back what it wrote (a vector both sides agree on).
    back, _ = client.decrypt(source=ciphertext, key_provider=provider(arns))
    assert back == data, name
    return {
        "name": name,
        "suite": suite,
        "frameLength": frame_length,
        "context": context,
        "plaintext": base64.b64encode(data).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "expect": expect,
    }


def main():
    tenant = {"tenant": "tenant-a"}
    vectors = []
    for suite in ("0x0478", "0x0578"):
        for length in (0, 1, 13, 4095, 4096, 4097, 8192, 10_000):
            vectors.append(vector(f"{suite}-framed-4096-{length}", suite, length, tenant))
        vectors.append(vector(f"{suite}-framed-512-5000", suite, 5000, tenant, frame_length=512))
        vectors.append(vector(f"{suite}-framed-128-300", suite, 300, tenant, frame_length=128))
        vectors.append(vector(f"{suite}-no-context", suite, 20, {}))
        vectors.append(
            vector(
                f"{suite}-unicode-context",
                suite,
                64,
                {"tenant": "tenant-a", "régión": "東京", "field": "$.ssn", "emoji": "🚀", "empty": ""},
            )
        )
        # Our key second: the Rust side skips the foreign data key.
        vectors.append(vector(f"{suite}-two-keys", suite, 100, tenant, arns=(OTHER_ARN, ARN)))
        # Only a foreign key: refused before any KMS call.
        vectors.append(vector(f"{suite}-foreign-key", suite, 10, tenant, arns=(OTHER_ARN,), expect="NoConfiguredKey"))
        # Non-framed: Powertools never writes it, and the Rust side refuses it.
        vectors.append(vector(f"{suite}-non-framed", suite, 10, tenant, frame_length=0, expect="Malformed"))
    for suite in ("0x0178", "0x0378"):
        vectors.append(vector(f"{suite}-v1-non-committing", suite, 10, tenant, expect="UnsupportedVersion"))
    json.dump(
        {"writer": f"aws-encryption-sdk {aws_encryption_sdk.__version__} (Python)", "keyArn": ARN, "vectors": vectors},
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
