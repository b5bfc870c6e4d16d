"""Parsing SQS batches of S3 notifications (``handlers.events``)."""

from __future__ import annotations

import json

import pytest

from handlers.events import InvalidNotification, parse_message


def test_notification_parsing():
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"},
              "object": {"key": "a+b%2Bc%C3%A9", "versionId": "v", "eTag": '"e"', "size": 3}}}
    (ref,) = parse_message("m", json.dumps({"Records": [record]})).objects
    assert (ref.key, ref.version_id, ref.etag, ref.size, ref.is_creation) == ("a b+cé", "v", "e", 3, True)
    for body in ("[]", "{}", "nope", json.dumps({"Records": [{"s3": {}}]}),
                 json.dumps({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "%FF"}}}]})):
        with pytest.raises(InvalidNotification):
            parse_message("m", body)
