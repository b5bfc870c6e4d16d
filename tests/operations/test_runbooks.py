"""docs/runbooks.md stays true: every alarm it names exists in the rendered templates and every alarm of
the templates has a runbook, and every command it shows is accepted by the script's own parser."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex

import pytest

from tap_templates.regions import KNOWN_REGIONS
from tests.deploy.helpers import ROOT
from tests.support.rendered import templates

RUNBOOKS = (ROOT / "docs" / "runbooks.md").read_text()
SECTIONS = ("Failover", "Failback", "DLQ triage and redrive", "A poison file", "Throttling", "Replication lag")
PLACEHOLDERS = {"<outage start>": "2h", "<first failure>": "1d"}


def alarm_names() -> set[str]:
    """Every alarm of dev's templates, written as the runbooks do (``<env>``, ``<region>``)."""
    found = set()
    for template in templates("dev"):
        for resource in template.resources.values():
            if resource["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                name = resource["Properties"]["AlarmName"].replace("tap-dev-", "tap-<env>-")
                found.add(re.sub(f"({'|'.join(KNOWN_REGIONS)})$", "<region>", name))
    return found


def test_every_runbook_section_is_there():
    headings = re.findall(r"^## (.+)$", RUNBOOKS, re.MULTILINE)
    for section in SECTIONS:
        assert any(h.startswith(section) for h in headings), section


def test_every_alarm_named_exists_and_every_alarm_has_a_runbook():
    named = {n.replace("<receiving region>", "<region>") for n in re.findall(r"`(tap-<env>-[^`]+)`", RUNBOOKS)}
    alarms = alarm_names()
    assert named - {"tap-<env>-alarms", "tap-<env>-ingest-<account>-<region>", "tap-<env>-processor"} <= alarms
    assert alarms <= named, f"alarms without a runbook: {sorted(alarms - named)}"


def _parser(script: str):
    return importlib.import_module(f"tap_templates.commands.{script}").parser()


def commands() -> list[tuple[str, list[str]]]:
    blocks = re.findall(r"```bash\n(.*?)```", RUNBOOKS, re.DOTALL)
    found = []
    for line in "\n".join(blocks).replace("\\\n", " ").splitlines():
        match = re.match(r"python scripts/(failover|reconcile|redrive)\.py (.*?)(\s+#.*)?$", line.strip())
        if match:
            args = match.group(2)
            for placeholder, value in PLACEHOLDERS.items():
                args = args.replace(placeholder, value)
            found.append((match.group(1), shlex.split(args)))
    return found


def test_the_runbooks_show_commands_of_each_tool():
    assert {script for script, _ in commands()} == {"failover", "reconcile", "redrive"}


@pytest.mark.parametrize(("script", "args"), commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_command_shown_parses(script, args):
    parsed = _parser(script).parse_args(args)
    assert parsed.env == "prod"
    assert json.dumps(vars(parsed), default=str)
