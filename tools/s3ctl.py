#!/usr/bin/env python3
"""The S3 operations veritrail's tests do as a third party (with boto3, the
AWS SDK for Python, against moto_server or any S3 endpoint):

  s3ctl.py ENDPOINT create-locked BUCKET DAYS   bucket with versioning and
                                                 Object Lock, default
                                                 COMPLIANCE retention
  s3ctl.py ENDPOINT create-plain BUCKET         bucket without either
  s3ctl.py ENDPOINT public-read BUCKET PREFIX   bucket policy: anyone may GET
                                                 objects under PREFIX/
  s3ctl.py ENDPOINT delete BUCKET KEY           DeleteObject (a delete marker
                                                 on a versioned bucket)
  s3ctl.py ENDPOINT delete-version BUCKET KEY   DeleteObject of the current
                                                 version by its ID
  s3ctl.py ENDPOINT overwrite BUCKET KEY TEXT   PutObject replacing the object
  s3ctl.py ENDPOINT versions BUCKET PREFIX      every version, as JSON lines
  s3ctl.py ENDPOINT get-version BUCKET KEY ID   one version's bytes to stdout

Exit status 0 when S3 accepted the request, 3 when it refused it (the error
code is printed), 1 for anything else. Credentials: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, `testing` when unset (moto accepts any).
"""
import json
import os
import sys

import boto3
import botocore.exceptions


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 1
    s3 = client(argv[1])
    op, args = argv[2], argv[3:]
    try:
        if op == "create-locked":
            bucket, days = args
            s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
            s3.put_object_lock_configuration(
                Bucket=bucket,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": int(days)}},
                },
            )
        elif op == "create-plain":
            (bucket,) = args
            s3.create_bucket(Bucket=bucket)
        elif op == "public-read":
            bucket, prefix = args
            s3.put_bucket_policy(
                Bucket=bucket,
                Policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{bucket}/{prefix}/*",
                            }
                        ],
                    }
                ),
            )
        elif op == "delete":
            bucket, key = args
            s3.delete_object(Bucket=bucket, Key=key)
        elif op == "delete-version":
            bucket, key = args
            head = s3.head_object(Bucket=bucket, Key=key)
            s3.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
        elif op == "overwrite":
            bucket, key, text = args
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), ChecksumAlgorithm="SHA256")
        elif op == "versions":
            bucket, prefix = args
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for v in page.get("Versions", []):
                    print(json.dumps({"key": v["Key"], "version": v["VersionId"], "latest": v["IsLatest"]}))
                for v in page.get("DeleteMarkers", []):
                    print(json.dumps({"key": v["Key"], "version": v["VersionId"], "delete_marker": True}))
        elif op == "get-version":
            bucket, key, vid = args
            sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=key, VersionId=vid)["Body"].read())
        else:
            print(f"unknown operation {op!r}", file=sys.stderr)
            return 1
    except botocore.exceptions.ClientError as e:
        print(e.response.get("Error", {}).get("Code", str(e)))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
