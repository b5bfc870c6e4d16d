"""The deploy's confirmations and coming back after destroy, as a user runs them: ``scripts/deploy.py`` in its
own process against the emulator server, answering at a terminal (a pseudo-terminal) or not at all.

What the emulator cannot show: on AWS a deleted bucket's name may take a while to be usable again, and a
global table's replicas are deleted asynchronously (purge waits for them); moto does both at once. Taking the
kept resources over instead of deleting them (a resource import) cannot be tried at all: moto has neither
``IMPORT`` change sets nor ``ImportStacksToStackSet``.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tap_templates import naming
from tap_templates.config import load_config
from tests.deploy.helpers import REGIONS, assert_pipeline_resources, one_line, resolved, run_script, server_session
from tests.operations.helpers import run_script_typing

CFG = load_config("dev")
pytestmark = pytest.mark.slow


def typing(*args: str, typed: str):
    return run_script_typing("deploy.py", *args, typed=typed)


def stack_sets(server: str) -> list[str]:
    found = []
    for region in REGIONS:
        cf = server_session().client("cloudformation", region_name=region, endpoint_url=server)
        found += [s["StackSetName"] for s in cf.list_stack_sets()["Summaries"] if s["Status"] == "ACTIVE"]
    return found


def buckets(server: str) -> list[str]:
    return [b["Name"] for b in server_session().client("s3", endpoint_url=server).list_buckets()["Buckets"]]


def test_the_deploy_asks_before_it_uploads_anything_and_no_exits_1(server, code_zip):
    endpoint = ("--env", "dev", "--endpoint-url", server, "--code-zip", str(code_zip[0]))
    assert run_script("roles", "--env", "dev", "--endpoint-url", server).code == 0

    unattended = run_script(*endpoint)
    assert unattended.code == 2
    assert one_line(unattended) == ("deploy.py: error: 2 StackSet(s) to change and no terminal to ask for "
                                    "confirmation on; pass --yes (or --dry-run to only look)")
    assert "tap-dev-us-east-1 (us-east-1): create StackSet" in unattended.out, "the plan is shown first"

    declined = typing(*endpoint, typed="n\n")
    assert declined.code == 1, declined.err
    assert "upload the code and templates and apply these changes? [y/N] " in declined.out
    assert declined.out.rstrip().endswith("cancelled: nothing was uploaded or changed")
    assert buckets(server) == [] and stack_sets(server) == [], "no artifacts bucket, no StackSet"

    accepted = typing(*endpoint, typed="y\n")
    assert accepted.code == 0, accepted.err
    assert "artifacts us-west-2: bucket tap-dev-artifacts-123456789012-us-west-2 created" in accepted.out
    assert sorted(stack_sets(server)) == ["tap-dev-us-east-1", "tap-dev-us-west-2"]


def test_a_redeploy_after_destroy_names_what_was_kept_and_purge_frees_it(server, code_zip):
    endpoint = ("--env", "dev", "--endpoint-url", server)
    deploy = (*endpoint, "--code-zip", str(code_zip[0]), "--yes")
    assert run_script("roles", *endpoint).code == 0
    assert run_script(*deploy).code == 0
    s3 = server_session().client("s3", region_name=CFG.primary_region, endpoint_url=server)
    ingest = resolved(naming.ingest_bucket(CFG, CFG.primary_region))
    s3.put_object(Bucket=ingest, Key="kept/data.jsonl", Body=b'{"id": "1"}\n')

    not_yet = run_script("purge", *endpoint, "--yes")
    assert not_yet.code == 2
    assert one_line(not_yet) == (f"deploy.py: error: tap-dev-us-west-2, tap-dev-us-east-1 still deployed: purge "
                                 f"deletes only what destroy kept; run `python scripts/deploy.py destroy --env dev "
                                 f"--endpoint-url {server}` first")

    destroyed = run_script("destroy", *endpoint, "--yes")
    assert destroyed.code == 0, destroyed.err
    assert (f"before deploying dev again, delete them and their data with `python scripts/deploy.py purge --env dev "
            f"--endpoint-url {server}`") in destroyed.out

    refused = run_script(*deploy)
    assert refused.code == 2
    line = one_line(refused)
    for kept in (f"S3 bucket {ingest} (us-east-1)", f"S3 bucket {resolved(naming.ingest_bucket(CFG, 'us-west-2'))}",
                 f"S3 bucket {resolved(naming.access_log_bucket(CFG, 'us-east-1'))}",
                 "DynamoDB table tap-dev-records (us-east-1", "DynamoDB table tap-dev-records (us-west-2",
                 f"delete them and their data with `python scripts/deploy.py purge --env dev --endpoint-url {server}`"):
        assert kept in line
    assert "KMS key" not in line, "a key holds no name"
    assert stack_sets(server) == [], "refused before any change"

    unattended = run_script("purge", *endpoint)
    assert unattended.code == 2 and "no terminal to ask for confirmation on; pass --yes" in one_line(unattended)
    declined = typing("purge", *endpoint, typed="dev\n")
    assert declined.code == 1 and declined.out.rstrip().endswith("cancelled: nothing was deleted")
    assert "type 'purge dev' to delete this data: " in declined.out
    assert s3.list_object_versions(Bucket=ingest)["Versions"], "the data is still there"

    purged = typing("purge", *endpoint, typed="purge dev\n")
    assert purged.code == 0, purged.err
    assert f"deleted S3 bucket {ingest} (us-east-1) and its 1 object version(s)" in purged.out
    assert "deleted DynamoDB table tap-dev-records in us-east-1, us-west-2 with its items" in purged.out
    for region in REGIONS:
        with pytest.raises(ClientError, match=r"Not Found|NoSuchBucket|404"):
            server_session().client("s3", region_name=region, endpoint_url=server).head_bucket(
                Bucket=resolved(naming.ingest_bucket(CFG, region)))
        kms = server_session().client("kms", region_name=region, endpoint_url=server)
        states = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
        assert {k["KeyState"] for k in states if k["Description"].startswith("tap-dev pipeline data")} == \
            {"PendingDeletion"}
    assert resolved(naming.artifacts_bucket(CFG, "us-east-1")) in buckets(server), "kept without --artifacts"

    nothing = run_script("purge", *endpoint, "--yes")
    assert nothing.code == 0 and "nothing to purge" in nothing.out

    again = run_script(*deploy)
    assert again.code == 0, again.err
    assert_pipeline_resources(server_session(), CFG, endpoint_url=server)
