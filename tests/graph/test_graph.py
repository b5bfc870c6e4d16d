"""``render.py --graph``: the picture of each region is read from the rendered template itself (its data path,
replication, who may call what), and written as Mermaid and as a self-contained SVG."""

from __future__ import annotations

import copy
import itertools
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tap_templates.graph import mermaid, model, svg
from tests.deploy.helpers import ROOT, subprocess_env
from tests.support.rendered import by_region

DEV = by_region("dev")
PRIMARY, SECONDARY = DEV["us-east-1"], DEV["us-west-2"]


def graph_of(t) -> model.Graph:
    return model.build(t.body, t.region, f"dev {t.region}")


def edges(g: model.Graph, kind: str) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in g.edges if e.kind == kind}


def test_the_data_path_from_bucket_to_table_and_the_dlq():
    data = edges(graph_of(PRIMARY), "data")
    path = ["IngestBucket", "IngestQueue", "ProcessorEventSource", "ProcessorAlias", "ProcessorFunction",
            "RecordsTable"]
    assert set(itertools.pairwise(path)) <= data
    assert {("IngestQueue", "DeadLetterQueue"), ("ProcessorFunction", "DeadLetterQueue")} <= data


def test_replication_reaches_the_other_region_only_from_the_primary():
    primary, secondary = graph_of(PRIMARY), graph_of(SECONDARY)
    targets = {primary.nodes[t].label for _, t in edges(primary, "replication")}
    assert targets == {"s3 tap-dev-ingest-<account>-us-west-2", "tap-dev-records replica"}
    assert edges(secondary, "replication") == set()
    assert "RecordsTable" not in secondary.nodes


def test_who_may_call_what_comes_from_the_roles_policies():
    g = graph_of(PRIMARY)
    access = {(e.source, e.target): e.label for e in g.edges if e.kind == "access"}
    assert access["ProcessorFunction", "RecordsTable"] == "dynamodb: BatchWriteItem, GetItem, UpdateItem"
    assert access["ReleaseDeploymentGroup", "ProcessorFunction"].startswith("lambda: GetAlias")
    changed = copy.deepcopy(PRIMARY.body)
    role = changed["Resources"]["ProcessorRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    role.append({"Effect": "Allow", "Action": "sqs:PurgeQueue", "Resource": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}})
    after = {(e.source, e.target): e.label for e in model.build(changed, "us-east-1", "x").edges if e.kind == "access"}
    assert after["ProcessorFunction", "DeadLetterQueue"] == "sqs: PurgeQueue, SendMessage"


def test_resources_without_edges_are_counted_per_component():
    g = graph_of(PRIMARY)
    groups = {group: [n.id for n in nodes] for group, _, nodes in g.groups()}
    assert groups["queues"][:2] == ["IngestQueue", "DeadLetterQueue"], "in data-path order"
    network = g.nodes["network_more"]
    endpoints = sum(1 for r in PRIMARY.resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint")
    assert network.label.endswith("EC2 NetworkAcl") and f"{endpoints} x EC2 VPCEndpoint" in network.detail
    counted = sum(int(line.split(" x ")[0]) for n in g.nodes.values() if n.id.endswith("_more")
                  for line in [n.label, *n.detail.splitlines()])
    drawn = sum(1 for n in g.nodes.values() if not n.id.endswith("_more") and n.group != "elsewhere")
    assert counted + drawn == len(PRIMARY.resources), "every resource is in the picture once"


def test_mermaid_declares_every_node_it_links():
    text = mermaid.mermaid(graph_of(PRIMARY))
    assert text.startswith("---\ntitle: dev us-east-1\n---\nflowchart LR\n")
    declared = set(re.findall(r"^    (\w+)\[", text, re.M))
    linked = set(re.findall(r"^  (\w+) [-=.>]+\|", text, re.M)) | set(re.findall(r"\| (\w+)$", text, re.M))
    assert linked and linked <= declared
    assert text.count("  subgraph ") == text.count("\n  end")
    assert "IngestBucket -->|\"object created (8 suffixes)\"| IngestQueue" in text


def test_the_svg_is_well_formed_and_names_every_node():
    picture = svg.svg(graph_of(PRIMARY))
    root = ET.fromstring(picture)
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {n.label for n in graph_of(PRIMARY).nodes.values()} <= texts
    assert "Who may call what" in texts
    assert picture == svg.svg(graph_of(PRIMARY)), "deterministic"


def test_render_graph_writes_both_files_per_template(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "render.py"), "--env", "dev", "--graph", "--out",
                           str(tmp_path)], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    for region in ("us-east-1", "us-west-2"):
        assert (tmp_path / "dev" / f"{region}.mmd").read_text().startswith("---\ntitle: tap-pipeline dev")
        ET.parse(tmp_path / "dev" / f"{region}.svg")
        assert f"graph    {tmp_path}/dev/{region}.svg" in done.stdout
    assert json.loads((tmp_path / "dev" / "us-east-1.json").read_text())["Resources"]


@pytest.mark.parametrize("args", [["--graph", "--check"]])
def test_graph_and_check_exclude_each_other(args):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "render.py"), *args], capture_output=True,
                          text=True, env=subprocess_env(), timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--graph writes files" in done.stderr


def test_the_readme_and_docs_show_the_picture_this_code_renders():
    """The README's Mermaid block and docs/graph/dev-us-east-1.svg are dev's primary as rendered now; after a
    template change: python scripts/render.py --env dev --graph, then copy build/dev/us-east-1.mmd into the
    README's block and build/dev/us-east-1.svg to docs/graph/dev-us-east-1.svg."""
    from tap_templates.config import load_config
    from tap_templates.render import graphs, render

    drawn = graphs(render(load_config("dev")))
    block = re.search(r"```mermaid\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block and block.group(1).encode() == drawn["us-east-1.mmd"], "the README's diagram is stale"
    assert (ROOT / "docs" / "graph" / "dev-us-east-1.svg").read_bytes() == drawn["us-east-1.svg"], "docs/graph is stale"
