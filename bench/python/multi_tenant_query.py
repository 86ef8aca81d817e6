"""multi-tenant-query, the straightforward Python way: ids checked against an allow-list pattern,
a tenant-scoped role assumed with session tags (credentials cached per tenant and user until
shortly before they expire), then one DynamoDB query on the tenant user's partition."""

import json
import os
import re
import time

import boto3

TABLE_NAME = os.environ.get("TABLE_NAME", "MultiTenantApp")
TENANT_ROLE_ARN = os.environ["TENANT_ROLE_ARN"]
ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

sts = boto3.client("sts")
_clients = {}


def _respond(status, body):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def _dynamodb_for(tenant, user):
    cached = _clients.get((tenant, user))
    if cached and cached[1] - 300 > time.time():
        return cached[0]
    credentials = sts.assume_role(
        RoleArn=TENANT_ROLE_ARN,
        RoleSessionName=f"t-{tenant}-u-{user}"[:64],
        DurationSeconds=900,
        Tags=[{"Key": "TenantId", "Value": tenant}, {"Key": "UserId", "Value": user}],
    )["Credentials"]
    client = boto3.client(
        "dynamodb",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    _clients[(tenant, user)] = (client, credentials["Expiration"].timestamp())
    return client


def handler(event, context):
    tenant = event.get("tenantId") if isinstance(event, dict) else None
    user = event.get("userId") if isinstance(event, dict) else None
    for field, value in (("tenantId", tenant), ("userId", user)):
        if not isinstance(value, str) or not ID.match(value):
            return _respond(400, {"error": {"code": "InvalidId", "field": field}})
    result = _dynamodb_for(tenant, user).query(
        TableName=TABLE_NAME,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": f"TENANT#{tenant}#USER#{user}"},
            ":prefix": {"S": "ORDER#"},
        },
    )
    orders = [
        {
            "orderId": item["SK"]["S"].removeprefix("ORDER#"),
            "total": item.get("orderTotal", {}).get("N"),
            "status": item.get("status", {}).get("S"),
        }
        for item in result.get("Items", [])
    ]
    return _respond(
        200,
        {"tenantId": tenant, "userId": user, "orderCount": len(orders), "orders": orders},
    )
