"""What a region's picture shows, read from its rendered template: nodes grouped by component and the edges
between them (the data path, replication, who may call what, releases and alarms).

Every edge comes from a property of the template, never from a hand-drawn list: the bucket's notification
(bucket -> queue), the redrive policy (queue -> DLQ), the event source mapping (queue -> mapping -> alias), the
alias (-> function), each IAM role's policy (the resource using the role -> each resource its statements name,
labelled with the actions), replication rules and table replicas (-> the other regions), alarm actions and the
deployment group's alarms. Resources that take part in no edge are counted per component and type instead of
drawn one by one, so the picture stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Components in reading order, with their titles.
GROUPS: tuple[tuple[str, str], ...] = (
    ("storage", "Storage"), ("queues", "Queues"), ("processor", "Processor"), ("data", "Table and secret"),
    ("elsewhere", "Other regions"), ("keys", "Keys"), ("release", "Release (CodeDeploy)"),
    ("monitoring", "Monitoring"), ("health", "Health"), ("network", "Network"), ("audit", "Audit"),
)
TYPE_GROUPS: dict[str, str] = {
    "AWS::S3::Bucket": "storage", "AWS::S3::BucketPolicy": "storage", "AWS::SQS::Queue": "queues",
    "AWS::SQS::QueuePolicy": "queues", "AWS::Lambda::Function": "processor", "AWS::Lambda::Version": "processor",
    "AWS::Lambda::Alias": "processor", "AWS::Lambda::EventSourceMapping": "processor",
    "AWS::DynamoDB::GlobalTable": "data", "AWS::DynamoDB::Table": "data", "AWS::SecretsManager::Secret": "data",
    "AWS::KMS::Key": "keys", "AWS::KMS::Alias": "keys", "AWS::CodeDeploy::Application": "release",
    "AWS::CodeDeploy::DeploymentConfig": "release", "AWS::CodeDeploy::DeploymentGroup": "release",
    "AWS::CloudWatch::Alarm": "monitoring", "AWS::CloudWatch::CompositeAlarm": "monitoring",
    "AWS::CloudWatch::Dashboard": "monitoring", "AWS::SNS::Topic": "monitoring", "AWS::SNS::TopicPolicy": "monitoring",
    "AWS::SNS::Subscription": "monitoring", "AWS::Route53::HealthCheck": "health", "AWS::Route53::RecordSet": "health",
    "AWS::CloudTrail::Trail": "audit", "AWS::Config::ConfigRule": "audit",
}
# Types that belong to whichever component uses them (a role, a log group).
ATTACHED = ("AWS::IAM::Role", "AWS::Logs::LogGroup")
# The name property of each named type and the ARN tail that names it (``{}`` is the name).
ARN_FORMS: dict[str, tuple[str, str]] = {
    "AWS::S3::Bucket": ("BucketName", r":s3:::{}(/.*)?"), "AWS::SQS::Queue": ("QueueName", r":sqs:[^:]+:[^:]+:{}"),
    "AWS::DynamoDB::GlobalTable": ("TableName", r":table/{}(/.*)?"),
    "AWS::SecretsManager::Secret": ("Name", r":secret:{}-\?{{6}}"),
    "AWS::Logs::LogGroup": ("LogGroupName", r":log-group:{}(:.*)?"),
    "AWS::Lambda::Function": ("FunctionName", r":function:{}(:.*)?"),
    "AWS::SNS::Topic": ("TopicName", r":sns:[^:]+:[^:]+:{}"),
}
REGION = re.compile(r"\b([a-z]{2}-[a-z]+-\d)\b")


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    detail: str
    group: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: str  # data, replication, access, release, notify


@dataclass
class Graph:
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def groups(self) -> list[tuple[str, str, list[Node]]]:
        """Every component that has nodes, in ``GROUPS`` order, its nodes in the order the edges first name them
        (the data path first), the counted rest last."""
        first: dict[str, int] = {}
        for i, e in enumerate(self.edges):
            first.setdefault(e.source, 2 * i)
            first.setdefault(e.target, 2 * i + 1)

        def order(n: Node) -> tuple[bool, int, str]:
            return n.id.endswith("_more"), first.get(n.id, len(first) * 2), n.id

        return [(g, title, sorted((n for n in self.nodes.values() if n.group == g), key=order))
                for g, title in GROUPS if any(n.group == g for n in self.nodes.values())]


def short_type(resource_type: str) -> str:
    return " ".join(resource_type.split("::")[1:])


def _text(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else str(sub[0])
    return value if isinstance(value, str) else ""


def _plain(text: str) -> str:
    """A name or ARN as a reader sees it: the account as ``<account>``, the partition as ``aws``."""
    return text.replace("${AWS::AccountId}", "<account>").replace("${AWS::Partition}", "aws")


def _target(value: Any) -> str | None:
    """The logical ID a ``Ref`` or ``Fn::GetAtt`` names."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return str(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        return str(value["Fn::GetAtt"][0])
    return None


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


class Reader:
    """Reads one rendered template into a ``Graph``."""

    def __init__(self, template: dict[str, Any], region: str, title: str) -> None:
        self.resources: dict[str, dict[str, Any]] = template.get("Resources", {})
        self.region, self.graph = region, Graph(title)
        self.group = self._groups()
        self.named: list[tuple[str, re.Pattern[str]]] = []
        for logical_id, r in self.resources.items():
            if r["Type"] not in ARN_FORMS:
                continue
            key, form = ARN_FORMS[r["Type"]]
            name = _plain(_text(r.get("Properties", {}).get(key)))
            if name:
                self.named.append((logical_id, re.compile(form.format(re.escape(name)) + "$")))

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    def _groups(self) -> dict[str, str]:
        found = {k: TYPE_GROUPS.get(r["Type"], "network" if r["Type"].startswith("AWS::EC2::") else "")
                 for k, r in self.resources.items()}
        for k in found:
            if k.startswith("Release") and self.resources[k]["Type"] == "AWS::CloudWatch::Alarm":
                found[k] = "release"
        for r in self.resources.values():  # what a trail writes to is the audit's
            if r["Type"] == "AWS::CloudTrail::Trail" and (b := _target(r.get("Properties", {}).get("S3BucketName"))):
                found[b] = "audit"
        for k, r in sorted(self.resources.items()):  # a role or log group belongs to its first user
            for value in _walk(r.get("Properties", {})):
                used = _target(value)
                if used in self.resources and self.resources[used]["Type"] in ATTACHED and not found[used]:
                    found[used] = found[k]
        return {k: g or "monitoring" for k, g in found.items()}

    def resource_of(self, arn: Any) -> str | None:
        """The logical ID an ARN (a ``Fn::GetAtt`` or an ``Fn::Sub`` text) names in this template, else an
        external node for another region's resource, else None."""
        if (target := _target(arn)) in self.resources:
            return target
        text = _plain(_text(arn))
        for logical_id, pattern in self.named:
            if pattern.search(text):
                return logical_id
        other = [r for r in REGION.findall(text) if r != self.region]
        if other:
            parts = text.split(":")
            tail = re.split(r"[:/]", text.rstrip("/*"))[-1] or text
            label = f"{parts[2] if len(parts) > 2 else ''} {tail}".strip()
            node_id = "ext_" + re.sub(r"\W", "_", f"{other[0]}_{label}")
            self.graph.nodes.setdefault(node_id, Node(node_id, label, f"in {other[0]}", "elsewhere"))
            return node_id
        return None

    def named_plainly(self, value: Any) -> str | None:
        """The table or queue a plain name (an environment variable's value) refers to."""
        for logical_id, resource in self.resources.items():
            form = ARN_FORMS.get(resource["Type"])
            if form and isinstance(value, str) and _text(resource.get("Properties", {}).get(form[0])) == value:
                return logical_id
        return None

    def edge(self, source: str | None, target: str | None, label: str, kind: str) -> None:
        if source and target and source != target:
            self.graph.edges.append(Edge(source, target, label, kind))


# --- edges -------------------------------------------------------------------------------------------------------


def data_path(r: Reader) -> None:
    """In the order a file travels: notification, event source, alias, what the function writes, the DLQ, then
    replication to the other regions."""
    of_type = {t: sorted(k for k, v in r.resources.items() if v["Type"] == t) for t in
               ("AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::Alias",
                "AWS::Lambda::Function", "AWS::DynamoDB::GlobalTable")}
    for bucket in of_type["AWS::S3::Bucket"]:
        rules = r.props(bucket).get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        for queue in sorted({_target(q.get("Queue")) for q in rules} - {None}):
            r.edge(bucket, queue, f"object created ({len(rules)} suffixes)", "data")
    for mapping in of_type["AWS::Lambda::EventSourceMapping"]:
        props = r.props(mapping)
        r.edge(_target(props.get("EventSourceArn")), mapping, f"polled in batches of {props.get('BatchSize')}", "data")
        r.edge(mapping, _target(props.get("FunctionName")), "invokes", "data")
    for alias in of_type["AWS::Lambda::Alias"]:
        r.edge(alias, _target(r.props(alias).get("FunctionName")), "runs a published version", "data")
    for function in of_type["AWS::Lambda::Function"]:
        variables = r.props(function).get("Environment", {}).get("Variables", {})
        for name, value in sorted(variables.items()):
            r.edge(function, _target(value) or r.named_plainly(value), f"uses ({name})", "data")
    for queue in of_type["AWS::SQS::Queue"]:
        policy = r.props(queue).get("RedrivePolicy")
        if isinstance(policy, dict):
            r.edge(queue, _target(policy.get("deadLetterTargetArn")),
                   f"after {policy.get('maxReceiveCount', '?')} receives", "data")
    for bucket in of_type["AWS::S3::Bucket"]:
        for rule in r.props(bucket).get("ReplicationConfiguration", {}).get("Rules", []):
            r.edge(bucket, r.resource_of(rule.get("Destination", {}).get("Bucket")), "replicates objects",
                   "replication")
    for table in of_type["AWS::DynamoDB::GlobalTable"]:
        for replica in r.props(table).get("Replicas", []):
            if replica.get("Region") != r.region:
                node = f"ext_{replica['Region'].replace('-', '_')}_table"
                r.graph.nodes.setdefault(node, Node(node, f"{_text(r.props(table).get('TableName'))} replica",
                                                    f"in {replica['Region']}", "elsewhere"))
                r.edge(table, node, "global table replica", "replication")


def permissions(r: Reader) -> None:
    """Each role's Allow statements, drawn from the resource that uses the role (who may call what)."""
    users: dict[str, list[str]] = {}
    for logical_id, resource in sorted(r.resources.items()):
        if resource["Type"] == "AWS::IAM::Role":
            continue
        for value in _walk(resource.get("Properties", {})):
            role = _target(value)
            if role in r.resources and r.resources[role]["Type"] == "AWS::IAM::Role":
                users.setdefault(role, []).append(logical_id)
    for role, user in sorted(users.items()):
        granted: dict[str, set[str]] = {}
        for policy in r.props(role).get("Policies", []):
            for statement in policy.get("PolicyDocument", {}).get("Statement", []):
                if statement.get("Effect") != "Allow":
                    continue
                actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
                for resource in _as_list(statement.get("Resource")):
                    target = r.resource_of(resource)
                    if target:
                        granted.setdefault(target, set()).update(actions)
        for target, actions in sorted(granted.items()):
            r.edge(sorted(set(user))[0], target, _actions(actions), "access")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _actions(actions: set[str]) -> str:
    """``s3: GetObject, GetObjectVersion``: one service prefix, at most three actions named."""
    by_service: dict[str, list[str]] = {}
    for action in sorted(actions):
        service, _, name = action.partition(":")
        by_service.setdefault(service, []).append(name)
    parts = [f"{s}: {', '.join(n[:3])}{f' +{len(n) - 3}' if len(n) > 3 else ''}" for s, n in by_service.items()]
    return "; ".join(parts)


def operations(r: Reader) -> None:
    """Releases (the deployment group shifts the alias, its alarms roll it back) and alarms notifying topics."""
    for logical_id, resource in sorted(r.resources.items()):
        props = r.props(logical_id)
        policy = resource.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {})
        r.edge(_target(policy.get("DeploymentGroupName")), logical_id, "shifts traffic", "release")
        for alarm in props.get("AlarmConfiguration", {}).get("Alarms", []):
            r.edge(_target(alarm.get("Name")), logical_id, "rolls back", "release")
        for action in props.get("AlarmActions", []) if resource["Type"].startswith("AWS::CloudWatch::") else []:
            r.edge(logical_id, _target(action), "notifies", "notify")


def collapse(r: Reader) -> None:
    """Resources in no edge are counted, per component, in one node (``1 x S3 Bucket``, one line per type); the
    edges of counted resources (alarms notifying the topic) are drawn once, from that node."""
    linked = {e.source for e in r.graph.edges} | {e.target for e in r.graph.edges}
    alone = {k for k in r.resources if k in linked and r.resources[k]["Type"] not in COUNTED}
    counts: dict[str, dict[str, int]] = {}
    for logical_id, resource in r.resources.items():
        if logical_id not in alone:
            group = counts.setdefault(r.group[logical_id], {})
            group[resource["Type"]] = group.get(resource["Type"], 0) + 1
    for logical_id in alone:
        resource_type = r.resources[logical_id]["Type"]
        r.graph.nodes[logical_id] = Node(logical_id, logical_id, short_type(resource_type), r.group[logical_id])
    for group, types in counts.items():
        lines = [f"{n} x {short_type(t)}" for t, n in sorted(types.items())]
        r.graph.nodes[f"{group}_more"] = Node(f"{group}_more", lines[0], "\n".join(lines[1:]), group)
    edges, seen = [], set()
    for e in r.graph.edges:
        source = e.source if e.source in r.graph.nodes else f"{r.group[e.source]}_more"
        target = e.target if e.target in r.graph.nodes else f"{r.group[e.target]}_more"
        if (source, target, e.label) not in seen and source != target:
            seen.add((source, target, e.label))
            edges.append(Edge(source, target, e.label, e.kind))
    r.graph.edges = edges


# Types drawn as a count even when they have edges: there are many of them and they all do the same thing.
COUNTED = ("AWS::CloudWatch::Alarm",)


def build(template: dict[str, Any], region: str, title: str) -> Graph:
    reader = Reader(template, region, title)
    data_path(reader)
    permissions(reader)
    operations(reader)
    collapse(reader)
    return reader.graph
