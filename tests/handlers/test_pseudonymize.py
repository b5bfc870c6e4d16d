"""Pseudonymization: configured personal-data fields are stored only as keyed HMACs.

Through the real handler against moto (S3, SQS, DynamoDB, Secrets Manager): valid records carry tokens that
join across files and formats, rejected records do not leak the fields in ``raw`` or in their messages, and
a key that cannot be read stops the file as a transient failure (retried, nothing stored, nothing skipped).
Expected tokens are computed here with the standard library, independently of the handler.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from handlers import pseudonymize, settings
from handlers.contracts import LedgerStatus
from handlers.settings import SettingsError
from tests.handlers.helpers import HMAC_KEY, PSEUDONYMIZE, ROOT, SECRET_ID, client, event, jsonl, sensor, token

EMAIL, PHONE = "alice@example.com", "+44 20 7946 0958"


def canonical_token(value) -> str:
    """The token of a non-string value: HMAC of its canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "hmac:" + hmac.new(HMAC_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


def by_id(pipeline, status="PROCESSED"):
    return {r["id"]: r for r in pipeline.records(status)}


def get_secret_calls(inject) -> list:
    """Every GetSecretValue call the handler makes (counted, then answered by moto)."""
    calls: list = []
    inject("secretsmanager", "before-call.secrets-manager.GetSecretValue", lambda **_: calls.append(1))
    return calls


def deny(code: str):
    """A before-call hook answering GetSecretValue with an error, as Secrets Manager or IAM would."""
    def hook(**_):
        return SimpleNamespace(status_code=400), {"Error": {"Code": code, "Message": f"{code} (injected)"},
                                                  "ResponseMetadata": {"HTTPStatusCode": 400}}
    return hook


# -- valid records ----------------------------------------------------------------------------------------
def test_configured_fields_become_tokens_that_join_across_files_and_formats(pseudonymized):
    p = pseudonymized
    assert p.process("a.jsonl", jsonl([event(1, email=EMAIL, phone=PHONE, plan="pro"), sensor(1)])) == {
        "batchItemFailures": []}
    csv = ("id,dataType,timestamp,name,properties\n"
           f"e-2,event,2024-05-01T12:00:02Z,login,\"{json.dumps({'email': EMAIL}).replace(chr(34), chr(34) * 2)}\"\n")
    p.process("b.csv", csv.encode())
    p.process("c.json", json.dumps([event(3, email=EMAIL, userId="u-77")]).encode())
    stored = by_id(p)
    assert stored["e-1"]["properties"] == {"email": token(EMAIL), "phone": token(PHONE), "plan": "pro"}
    assert stored["e-2"]["properties"] == {"email": token(EMAIL)}
    assert stored["e-3"]["properties"] == {"email": token(EMAIL), "userId": token("u-77")}
    assert stored["s-1"]["deviceId"] == "dev-1"  # a type without configured fields is stored as sent
    text = p.stored_text()
    assert EMAIL not in text and PHONE not in text and "u-77" not in text


def test_non_string_values_are_hashed_as_canonical_json_and_missing_or_null_paths_are_left(pseudonymized):
    p = pseudonymized
    records = [
        event(1, userId=12345), event(2, userId="12345"), event(3, userId=1.2345e4),
        event(4, phone={"number": "555", "country": "44"}), event(5, phone=["555", 1]), event(6, phone=None),
        event(7, plan="free"), event(8), event(9, userId=True),
    ]
    p.process("n.jsonl", jsonl(records))
    stored = by_id(p)
    assert stored["e-1"]["properties"]["userId"] == token("12345")  # a number joins with its text
    assert stored["e-2"]["properties"]["userId"] == token("12345")
    assert stored["e-3"]["properties"]["userId"] == token("12345")  # 12345.0 is the number 12345
    assert stored["e-4"]["properties"]["phone"] == canonical_token({"country": "44", "number": "555"})
    assert stored["e-5"]["properties"]["phone"] == canonical_token(["555", 1])
    assert stored["e-6"]["properties"] == {"phone": None}
    assert stored["e-7"]["properties"] == {"plan": "free"}
    assert "properties" not in stored["e-8"]
    assert stored["e-9"]["properties"]["userId"] == canonical_token(True)
    assert p.ledger()["processed"] == len(records)


def test_csv_numbers_hash_like_the_same_number_in_json(pseudonymized):
    p = pseudonymized
    p.process("u.csv", b'id,dataType,timestamp,name,properties\n'
                       b'e-1,event,2024-05-01T12:00:00Z,x,"{""userId"": 1000}"\n')
    p.process("u.json", b'[{"id":"e-2","dataType":"event","timestamp":"2024-05-01T12:00:00Z","name":"x",'
                        b'"properties":{"userId":1E+3}}]')
    p.process("u.jsonl", b'{"id":"e-3","dataType":"event","timestamp":"2024-05-01T12:00:00Z","name":"x",'
                         b'"properties":{"userId":1000.0}}\n')
    assert {r["properties"]["userId"] for r in p.records("PROCESSED")} == {token("1000")}


# -- rejected records -------------------------------------------------------------------------------------
def test_rejected_records_keep_their_input_with_the_fields_replaced(pseudonymized):
    p = pseudonymized
    lines = [
        json.dumps({**event(1, email=EMAIL), "name": ""}).encode(),               # schema: name too short
        json.dumps({**event(2, phone=PHONE), "dataType": "Event"}).encode(),      # misspelt type: every path
        json.dumps(event(3, email=EMAIL)).encode(),                               # duplicate of the next one
        json.dumps(event(3, email=EMAIL)).encode(),
        b'{"id":"e-5","dataType":"event","timestamp":"2024-05-01T12:00:00Z","name":"x","properties":'
        b'{"userId":"u-5","phone":1e200}}',                                       # a number DynamoDB refuses
        json.dumps(event(6, email=EMAIL, blob="x" * 420_000)).encode(),           # item over 400 KB
    ]
    p.process("r.jsonl", b"\n".join(lines))
    rejected = sorted(p.records("REJECTED"), key=lambda r: r["sourceLine"])
    assert [r["sourceLine"] for r in rejected] == [1, 2, 4, 5, 6]
    raws = [json.loads(r["raw"]) for r in rejected[:4]]  # the fifth is cut at 4,096 characters
    assert raws[0]["properties"] == {"email": token(EMAIL)} and raws[0]["name"] == ""
    assert raws[1]["properties"] == {"phone": token(PHONE)}
    assert raws[2]["properties"] == {"email": token(EMAIL)}
    assert raws[3]["properties"]["userId"] == token("u-5")
    number = token("1" + "0" * 200)  # a number's canonical form is its plain decimal
    assert rejected[3]["errors"] == [{"field": "properties.phone", "message": f"{number} is outside "
                                      "DynamoDB's number range (1E-130 to 9.9999E+125)"}]
    assert rejected[4]["rawTruncated"] is True and EMAIL not in rejected[4]["raw"]
    text = p.stored_text()
    assert EMAIL not in text and PHONE not in text and "u-5" not in text and "1e+200" not in text.lower()
    assert p.ledger()["processed"] + p.ledger()["rejected"] == 6


def test_unparseable_input_is_withheld_only_when_it_could_hold_a_configured_field(pseudonymized):
    p = pseudonymized
    lines = [
        b'{"id":"e-1","dataType":"event","properties":{"email":"' + EMAIL.encode() + b'"',  # cut off
        b'{"id":"e-2","dataType":"event","properties":{"\\u0065mail":"' + EMAIL.encode() + b'"}} trailing',
        b'{"id":"e-3","dataType":"event","name":"no personal data", broken}',
        b'["' + EMAIL.encode() + b'", {"properties": {"email": "' + EMAIL.encode() + b'"}}]',  # not an object
        b'{"id":"e-5","dataType":"event","properties":{"email":"' + EMAIL.encode() + b'"}' + b" " * 2_000_000 + b"}",
    ]
    p.process("w.jsonl", b"\n".join(lines))
    rejected = sorted(p.records("REJECTED"), key=lambda r: r["sourceLine"])
    assert [r["raw"] for r in rejected] == [pseudonymize.WITHHELD, pseudonymize.WITHHELD, lines[2].decode(),
                                            pseudonymize.WITHHELD, pseudonymize.WITHHELD]
    assert "over the limit" in rejected[4]["errors"][0]["message"]
    assert EMAIL not in p.stored_text()


def test_csv_rows_have_the_cells_holding_the_fields_replaced(pseudonymized):
    p = pseudonymized
    props = json.dumps({"email": EMAIL}).replace('"', '""')
    csv = ("id,dataType,timestamp,name,properties\n"
           f'e-1,event,not-a-time,x,"{props}"\n'                 # rejected: bad timestamp
           f'e-2,event,2024-05-01T12:00:00Z,x,"{{""email"": ""{EMAIL}"", broken"\n'  # cell is not JSON
           f'e-3,event,2024-05-01T12:00:00Z,x,"{props}",extra\n')  # too many cells
    p.process("c.csv", csv.encode())
    rejected = sorted(p.records("REJECTED"), key=lambda r: r["sourceLine"])
    assert len(rejected) == 3
    cells = [json.loads(r["raw"])["properties"] for r in rejected]
    assert cells[0] == token(json.dumps({"email": EMAIL}))  # the cell holding the field, replaced whole
    assert cells[1] == token(f'{{"email": "{EMAIL}", broken')
    assert cells[2] == token(json.dumps({"email": EMAIL}))
    assert EMAIL not in p.stored_text()


# -- the key ----------------------------------------------------------------------------------------------
def test_the_key_is_read_once_per_container(pseudonymized, inject):
    calls = get_secret_calls(inject)
    for i in range(3):
        assert pseudonymized.process(f"k{i}.jsonl", jsonl([event(i, email=EMAIL)])) == {"batchItemFailures": []}
    assert len(calls) == 1
    assert len(pseudonymized.records("PROCESSED")) == 3


@pytest.mark.parametrize("failure", ["missing", "AccessDeniedException", "DecryptionFailure", "too short"])
def test_an_unreadable_key_is_a_transient_failure_and_nothing_is_stored(pseudonymized, inject, failure):
    p = pseudonymized
    if failure == "missing":
        client("secretsmanager").delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    elif failure == "too short":
        client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString="short")
    else:
        inject("secretsmanager", "before-call.secrets-manager.GetSecretValue", deny(failure))
    first, second = p.put("a.jsonl", jsonl([event(1, email=EMAIL)])), p.put("b.json", b"[]")
    batch = p.event(first, second)
    result = p.run(batch)
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        r["messageId"] for r in batch["Records"])
    assert p.records() == [] and p.dead_letters() == []
    assert {e["status"] for e in p.ledgers()} == {LedgerStatus.IN_PROGRESS}
    assert all(e["leaseUntil"] == 0 and e["records"] == 0 for e in p.ledgers())  # released for the retry


def test_after_a_failure_the_invocation_fails_fast_and_a_later_one_recovers(pseudonymized, inject):
    p = pseudonymized
    calls = get_secret_calls(inject)
    client("secretsmanager").delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    batch = p.event(*(p.put(f"f{i}.jsonl", jsonl([event(i, email=EMAIL)])) for i in range(3)))
    assert len(p.run(batch)["batchItemFailures"]) == 3
    assert len(calls) == 1  # one attempt for the whole batch, not one per file
    client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=HMAC_KEY)
    assert p.run(batch) == {"batchItemFailures": []}  # a failure is never cached
    assert {r["properties"]["email"] for r in p.records("PROCESSED")} == {token(EMAIL)}
    assert [e["attempts"] for e in p.ledgers()] == [2, 2, 2]


def test_a_binary_secret_is_a_key_too(pseudonymized):
    key = bytes(range(64))
    client("secretsmanager").delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)
    client("secretsmanager").create_secret(Name=SECRET_ID, SecretBinary=key)
    pseudonymized.process("b.jsonl", jsonl([event(1, email=EMAIL)]))
    (record,) = pseudonymized.records("PROCESSED")
    assert record["properties"]["email"] == "hmac:" + hmac.new(key, EMAIL.encode(), hashlib.sha256).hexdigest()


# -- configuration ----------------------------------------------------------------------------------------
BASE = {"TABLE_NAME": "t", "DLQ_URL": "https://sqs/q", "AWS_REGION": "us-east-1"}


def test_settings_read_the_fields_and_refuse_what_would_store_personal_data_or_break_keys():
    config = settings.load_settings({**BASE, "PSEUDONYMIZATION_SECRET_ID": SECRET_ID,
                                     "PSEUDONYMIZE_FIELDS": json.dumps(PSEUDONYMIZE)})
    assert config.pseudonymize_fields == (("event", tuple(PSEUDONYMIZE["event"])),)
    assert settings.load_settings(BASE).pseudonymize_fields == ()  # both unset: off
    assert settings.load_settings({**BASE, "PSEUDONYMIZATION_SECRET_ID": SECRET_ID}).pseudonymize_fields == ()
    bad = [
        {"PSEUDONYMIZE_FIELDS": json.dumps(PSEUDONYMIZE)},  # fields but no key: never store them in clear
        {"PSEUDONYMIZATION_SECRET_ID": SECRET_ID, "PSEUDONYMIZE_FIELDS": "{not json"},
        {"PSEUDONYMIZATION_SECRET_ID": SECRET_ID, "PSEUDONYMIZE_FIELDS": '["properties.email"]'},
        {"PSEUDONYMIZATION_SECRET_ID": SECRET_ID, "PSEUDONYMIZE_FIELDS": '{"event": "properties.email"}'},
        {"PSEUDONYMIZATION_SECRET_ID": SECRET_ID, "PSEUDONYMIZE_FIELDS": '{"event": ["properties..email"]}'},
        {"PSEUDONYMIZATION_SECRET_ID": SECRET_ID, "PSEUDONYMIZE_FIELDS": '{"event": ["id"]}'},
    ]
    for env in bad:
        with pytest.raises(SettingsError):
            settings.load_settings({**BASE, **env})


REGION_TEMPLATES = sorted((ROOT / "build").glob("*/*-*-[0-9].json"))  # not the manifest or the policy templates


@pytest.mark.parametrize("path", REGION_TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_template_configures_pseudonymization_the_handler_can_use(path):
    body = json.loads(path.read_text())
    functions = [r for r in body.get("Resources", {}).values() if r["Type"] == "AWS::Lambda::Function"]
    if not functions:
        pytest.skip("no processor in this template")
    (function,) = functions
    env = function["Properties"]["Environment"]["Variables"]
    if "PSEUDONYMIZE_FIELDS" not in env:
        pytest.skip("pseudonymization is off in this environment")
    config = settings.load_settings({**BASE, **{k: v for k, v in env.items() if isinstance(v, str)}})
    assert config.pseudonymize_fields and config.pseudonymization_secret_id == env["PSEUDONYMIZATION_SECRET_ID"]
    role = body["Resources"][function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
    grants = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]
              if s["Effect"] == "Allow" and "secretsmanager:GetSecretValue" in s["Action"]]
    assert grants, "the role must allow secretsmanager:GetSecretValue"
    resources = json.dumps([g["Resource"] for g in grants])
    assert f"secret:{config.pseudonymization_secret_id}-??????" in resources


def test_without_the_setting_the_module_is_never_imported():
    code = ("import os; os.environ.update(AWS_REGION='us-east-1', POWERTOOLS_TRACE_DISABLED='true'); "
            "import sys, handlers.processor; print('handlers.pseudonymize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tokens_are_keyed_and_canonical():
    p = pseudonymize.Pseudonymizer(HMAC_KEY.encode(), PSEUDONYMIZE)
    other = pseudonymize.Pseudonymizer(b"another key of thirty-two bytes!", PSEUDONYMIZE)
    assert p.token(EMAIL) == token(EMAIL) != other.token(EMAIL)
    assert p.token(EMAIL).startswith("hmac:") and len(p.token(EMAIL)) == 5 + 64
    assert pseudonymize.canonical({"b": [1.5, None], "a": "é"}) == '{"a":"é","b":[1.5,null]}'
    from decimal import Decimal
    assert {pseudonymize.canonical(v) for v in (1000, 1000.0, Decimal("1E+3"), Decimal("1000.000"))} == {"1000"}
    assert pseudonymize.canonical(Decimal("1E+999999999")) == "1E+999999999"  # never expanded
    assert pseudonymize.canonical(Decimal("-0.00")) == "0"
