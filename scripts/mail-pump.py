#!/usr/bin/env python3
"""Lambda's SQS event source mapping, locally.

Long-polls the mail queue (moto's SQS) and invokes `send-mail` with each batch
as an SQS event through the invoke API of `cargo lambda watch`, as Lambda's
event source mapping does in AWS; then deletes the messages the function
accepted (those not in its `batchItemFailures`). The others become visible
again after the queue's visibility timeout and are retried.

Usage: mail-pump.py QUEUE_URL INVOKE_URL
  QUEUE_URL   the mail queue (its endpoint is AWS_ENDPOINT_URL_SQS)
  INVOKE_URL  http://127.0.0.1:<port>/2015-03-31/functions/send-mail/invocations
"""

import json
import signal
import sys
import time
import urllib.error
import urllib.request

import boto3


def main() -> None:
    queue_url, invoke_url = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    region = sqs.meta.region_name
    while True:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            continue
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": region,
                }
                for message in received
            ]
        }
        request = urllib.request.Request(
            invoke_url,
            data=json.dumps(event).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.load(response)
        except (urllib.error.URLError, OSError, ValueError) as error:
            # The function failed as a whole: every message is retried.
            print(f"mail-pump: send-mail failed: {error}", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        failed = {
            failure.get("itemIdentifier")
            for failure in (answer or {}).get("batchItemFailures", [])
        }
        done = [
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(received)
            if message["MessageId"] not in failed
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
        print(
            f"mail-pump: {len(done)} delivered, {len(failed)} to retry",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    main()
