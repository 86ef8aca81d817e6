"""secure-config, the straightforward Python way: boto3 clients at module level, values cached for
the life of the execution environment (as the lab does), the password never returned."""

import json
import os

import boto3

DB_SECRET_ID = os.environ.get("DB_SECRET_ID", "prod/database/credentials")
API_URL_PARAMETER = os.environ.get("API_URL_PARAMETER", "/app/config/api-url")
API_KEY_PARAMETER = os.environ.get("API_KEY_PARAMETER", "/app/config/api-key")
MAX_ITEMS_PARAMETER = os.environ.get("MAX_ITEMS_PARAMETER", "/app/config/max-items")
FEATURE_FLAGS_PATH = os.environ.get("FEATURE_FLAGS_PATH", "/app/features")

secrets = boto3.client("secretsmanager")
ssm = boto3.client("ssm")
_cache = {}

ACTIONS = ["get_db_credentials", "get_app_config", "get_feature_flags"]


def _respond(body):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _db_credentials():
    if "db" not in _cache:
        value = secrets.get_secret_value(SecretId=DB_SECRET_ID)["SecretString"]
        _cache["db"] = json.loads(value)
    creds = _cache["db"]
    return {
        "message": "Database credentials retrieved (password redacted)",
        "host": creds.get("host"),
        "port": creds.get("port"),
        "dbname": creds.get("dbname"),
        "username": creds.get("username"),
        "password": "[REDACTED]",
    }


def _app_config():
    if "config" not in _cache:
        names = [API_URL_PARAMETER, API_KEY_PARAMETER, MAX_ITEMS_PARAMETER]
        result = ssm.get_parameters(Names=names, WithDecryption=True)
        _cache["config"] = {p["Name"]: p["Value"] for p in result["Parameters"]}
    values = _cache["config"]
    api_key = values.get(API_KEY_PARAMETER, "")
    return {
        "message": "App config retrieved",
        "apiUrl": values.get(API_URL_PARAMETER),
        "apiKey": api_key[:8] + "[REDACTED]",
        "maxItems": int(values.get(MAX_ITEMS_PARAMETER, "0")),
    }


def _feature_flags():
    if "flags" not in _cache:
        flags = {}
        pages = ssm.get_paginator("get_parameters_by_path").paginate(
            Path=FEATURE_FLAGS_PATH, Recursive=True, WithDecryption=True
        )
        for page in pages:
            for parameter in page["Parameters"]:
                flags[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"] == "true"
        _cache["flags"] = flags
    return {"message": "Feature flags retrieved", "flags": _cache["flags"]}


def handler(event, context):
    action = event.get("action") if isinstance(event, dict) else None
    if action == "get_db_credentials":
        return _respond(_db_credentials())
    if action == "get_app_config":
        return _respond(_app_config())
    if action == "get_feature_flags":
        return _respond(_feature_flags())
    return _respond({"message": "Specify an action", "availableActions": ACTIONS})
