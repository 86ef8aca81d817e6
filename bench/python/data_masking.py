"""data-masking, the straightforward Python way: regular expressions for the lab's masking rules,
log lines sanitised before they are printed."""

import json
import re

SAMPLE_USERS = [
    {
        "id": "USR-001",
        "name": "Jane Doe",
        "email": "jane.doe@example.com",
        "phone": "+1-555-123-4567",
        "ssn": "123-45-6789",
        "memberSince": "2023-01-15",
    },
    {
        "id": "USR-002",
        "name": "John Smith",
        "email": "john.smith@example.com",
        "phone": "+1-555-987-6543",
        "ssn": "987-65-4321",
        "memberSince": "2023-06-20",
    },
]

PASSWORD = re.compile(r'("password"\s*:\s*")[^"]*(")', re.IGNORECASE)
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
CARD = re.compile(r"\b(?:\d{4}[- ]?){3}\d{4}\b")
PASS_THROUGH = {"id", "name", "memberSince"}


def mask_email(value):
    local, _, domain = value.partition("@")
    if len(local) <= 2:
        return local[:1] + "***@" + domain
    return local[0] + "***" + local[-1] + "@" + domain


def mask_phone(value):
    digits = re.sub(r"\D", "", value)
    return "***-***-**" + digits[-2:]


def mask_ssn(value):
    return "***-**-" + value[-4:]


def mask_card(value):
    digits = re.sub(r"\D", "", value)
    return "****-****-****-" + digits[-4:]


MASKERS = {
    "email": mask_email,
    "phone": mask_phone,
    "ssn": mask_ssn,
    "creditCard": mask_card,
}


def mask_record(record):
    masked = {}
    for key, value in record.items():
        masker = MASKERS.get(key)
        if key in PASS_THROUGH or masker is None or not isinstance(value, str):
            masked[key] = value
        else:
            masked[key] = masker(value)
    return masked


def sanitize(line):
    line = PASSWORD.sub(r"\1[REDACTED]\2", line)
    line = SSN.sub("[SSN-REDACTED]", line)
    return CARD.sub("[CARD-REDACTED]", line)


def handler(event, context):
    records = event.get("records") if isinstance(event, dict) else None
    users = records if isinstance(records, list) else SAMPLE_USERS
    print(sanitize("masking request: " + json.dumps(event)))
    masked = [mask_record(u) for u in users if isinstance(u, dict)]
    print(sanitize(json.dumps({"maskedCount": len(masked)})))
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": "PII masked", "users": masked}),
    }
