"""IAM and network changes that allow more than before: what a reviewer must look at first.

Each policy document is split into atoms (one effect, principal, action and resource, with the statement's
condition); a new Allow atom widens access unless an Allow of the old template in the same document already
covered it (the same or a wildcard action, principal and resource, and no condition, or the same one). A Deny
that disappears widens access too. Network rules (security-group rules, network ACL entries that allow) are
atoms of direction, protocol, port range and peer; a new one widens access unless an old rule of the same
group covered it (a port range containing it, a CIDR containing it). IAM evaluation itself is the one AWS
documents (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an
explicit Deny wins, otherwise any Allow grants, which is why adding an Allow or removing a Deny is what widens.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

POLICY_DOCUMENTS = ("PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy")
ALL_PORTS = (0, 65535)
PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "-1": "all", "all": "all"}


@dataclass(frozen=True)
class Widening:
    kind: str  # "iam" or "network"
    logical_id: str
    where: str
    what: str

    def describe(self) -> str:
        return f"{self.logical_id} {self.where}: {self.what}"

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "logical_id": self.logical_id, "where": self.where, "what": self.what}


def text(value: Any) -> str:
    """A policy value as a reviewer reads it: ``Fn::Sub`` strings as written, ``Fn::GetAtt`` as ``Name.Attr``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"} and isinstance(value["Fn::GetAtt"], list):
        return ".".join(map(str, value["Fn::GetAtt"]))
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return f"Ref {value['Ref']}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- IAM ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    effect: str
    principal: str
    action: str
    resource: str
    condition: str

    def describe(self) -> str:
        who = f"{self.principal} may " if self.principal != "-" else ""
        when = f" when {self.condition}" if self.condition else ""
        verb = "deny" if self.effect == "Deny" else "allow"
        return f"{verb} {who}{self.action} on {self.resource}{when}"


def _principals(statement: dict[str, Any]) -> list[str]:
    if "NotPrincipal" in statement:
        return [f"not {text(statement['NotPrincipal'])}"]
    principal = statement.get("Principal")
    if principal is None:
        return ["-"]
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return [f"{kind}:{text(v)}" for kind, value in sorted(principal.items()) for v in as_list(value)]
    return [text(principal)]


def atoms(statement: dict[str, Any]) -> Iterator[Atom]:
    effect = str(statement.get("Effect", "Allow"))
    actions = ([text(a) for a in as_list(statement["Action"])] if "Action" in statement
               else [f"not {text(statement.get('NotAction'))}"])
    resources = ([text(r) for r in as_list(statement["Resource"])] if "Resource" in statement
                 else [f"not {text(statement['NotResource'])}"] if "NotResource" in statement else ["-"])
    condition = text(statement["Condition"]) if statement.get("Condition") else ""
    for principal in _principals(statement):
        for action in actions:
            for resource in resources:
                yield Atom(effect, principal, action, resource, condition)


def _match(narrow: str, wide: str) -> bool:
    return narrow == wide or fnmatch.fnmatchcase(narrow, wide)


def covered(atom: Atom, by: Atom) -> bool:
    """Whether ``by`` (an old Allow) already allowed everything ``atom`` (a new Allow) allows."""
    return (atom.effect == by.effect and _match(atom.principal, by.principal)
            and _match(atom.action.lower(), by.action.lower())
            and _match(atom.resource, by.resource) and by.condition in ("", atom.condition))


def documents(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy document of a resource, named the way a reviewer finds it (a role's inline policy by name)."""
    props = resource.get("Properties", {})
    for name in POLICY_DOCUMENTS:
        if isinstance(props.get(name), dict):
            yield {"AssumeRolePolicyDocument": "trust policy", "KeyPolicy": "key policy"}.get(name, "policy"), \
                props[name]
    for policy in props.get("Policies", []) if isinstance(props.get("Policies"), list) else []:
        if isinstance(policy, dict) and isinstance(policy.get("PolicyDocument"), dict):
            yield f"policy {text(policy.get('PolicyName', '?'))}", policy["PolicyDocument"]


def _document_atoms(resources: dict[str, Any]) -> dict[tuple[str, str], set[Atom]]:
    found: dict[tuple[str, str], set[Atom]] = {}
    for logical_id, resource in resources.items():
        for where, document in documents(resource):
            statements = as_list(document.get("Statement", []))
            found.setdefault((logical_id, where), set()).update(
                a for s in statements if isinstance(s, dict) for a in atoms(s))
        for arn in as_list(resource.get("Properties", {}).get("ManagedPolicyArns", [])):
            found.setdefault((logical_id, "managed policies"), set()).add(Atom("Allow", "-", "attach", text(arn), ""))
        if resource.get("Type") == "AWS::Lambda::Permission":
            p = resource.get("Properties", {})
            found.setdefault((logical_id, "invoke permission"), set()).add(Atom(
                "Allow", text(p.get("Principal", "?")), text(p.get("Action", "?")).lower(),
                text(p.get("FunctionName", "?")), text({k: p[k] for k in ("SourceArn", "SourceAccount") if k in p})))
    return found


def iam_widening(old: dict[str, Any], new: dict[str, Any]) -> list[Widening]:
    before, after = _document_atoms(old), _document_atoms(new)
    found = []
    for (logical_id, where), now in sorted(after.items()):
        was = before.get((logical_id, where), set())
        allows = [a for a in was if a.effect == "Allow"]
        for atom in sorted(now - was, key=Atom.describe):
            if atom.effect == "Allow" and not any(covered(atom, b) for b in allows):
                found.append(Widening("iam", logical_id, where, atom.describe()))
    for (logical_id, where), was in sorted(before.items()):
        now = after.get((logical_id, where), set())
        # A Deny that moved to another resource (a renamed bucket) still denies; one that is gone does not.
        kept = {(a.principal, a.action, a.condition) for a in now if a.effect == "Deny"}
        for atom in sorted(was - now, key=Atom.describe):
            if atom.effect == "Deny" and (atom.principal, atom.action, atom.condition) not in kept:
                found.append(Widening("iam", logical_id, where, f"removed: {atom.describe()}"))
    return found


# --- network -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    group: str
    direction: str
    protocol: str
    ports: tuple[int, int]
    peer: str
    action: str = "allow"

    def describe(self) -> str:
        ports = "all ports" if self.protocol == "all" or self.ports == ALL_PORTS else \
            f"port {self.ports[0]}" if self.ports[0] == self.ports[1] else f"ports {self.ports[0]}-{self.ports[1]}"
        way = "from" if self.direction == "ingress" else "to"
        return f"{self.action} {self.direction} {self.protocol} {ports} {way} {self.peer}"


def _protocol(value: Any) -> str:
    return PROTOCOLS.get(str(value).lower(), str(value).lower())


def _ports(protocol: str, low: Any, high: Any) -> tuple[int, int]:
    if protocol == "all" or low is None:
        return ALL_PORTS
    try:
        return (max(0, int(low)), int(high if high is not None else low))
    except (TypeError, ValueError):
        return ALL_PORTS


def _peer(rule: dict[str, Any]) -> str:
    for key in ("CidrIp", "CidrIpv6", "CidrBlock", "Ipv6CidrBlock", "SourceSecurityGroupId",
                "DestinationSecurityGroupId", "SourcePrefixListId", "DestinationPrefixListId"):
        if key in rule:
            return text(rule[key])
    return "?"


def _group_rule(group: str, direction: str, rule: dict[str, Any]) -> Rule:
    protocol = _protocol(rule.get("IpProtocol", "all"))
    return Rule(group, direction, protocol, _ports(protocol, rule.get("FromPort"), rule.get("ToPort")), _peer(rule))


def rules(resources: dict[str, Any]) -> set[Rule]:
    found: set[Rule] = set()
    for logical_id, resource in resources.items():
        props, kind = resource.get("Properties", {}), resource.get("Type")
        if kind == "AWS::EC2::SecurityGroup":
            for direction in ("Ingress", "Egress"):
                for rule in as_list(props.get(f"SecurityGroup{direction}", [])):
                    found.add(_group_rule(logical_id, direction.lower(), rule))
        elif kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            group = props.get("GroupId", logical_id)
            group = group["Ref"] if isinstance(group, dict) and "Ref" in group else text(group)
            found.add(_group_rule(group, "ingress" if kind.endswith("Ingress") else "egress", props))
        elif kind == "AWS::EC2::NetworkAclEntry":
            protocol = _protocol(props.get("Protocol", "all"))
            ports = props.get("PortRange", {})
            acl = props.get("NetworkAclId", logical_id)
            found.add(Rule(acl["Ref"] if isinstance(acl, dict) and "Ref" in acl else text(acl),
                           "egress" if props.get("Egress") else "ingress", protocol,
                           _ports(protocol, ports.get("From"), ports.get("To")), _peer(props),
                           str(props.get("RuleAction", "allow")).lower()))
    return found


def _contains(wide: str, narrow: str) -> bool:
    if wide == narrow:
        return True
    try:
        return ipaddress.ip_network(narrow, strict=False).subnet_of(ipaddress.ip_network(wide, strict=False))
    except (ValueError, TypeError):
        return False


def rule_covered(rule: Rule, by: Rule) -> bool:
    return (rule.group == by.group and rule.direction == by.direction and by.action == "allow"
            and by.protocol in ("all", rule.protocol) and by.ports[0] <= rule.ports[0]
            and rule.ports[1] <= by.ports[1] and _contains(by.peer, rule.peer))


def network_widening(old: dict[str, Any], new: dict[str, Any]) -> list[Widening]:
    before, after = rules(old), rules(new)
    found = [Widening("network", r.group, "rule", f"new: {r.describe()}") for r in sorted(after - before, key=str)
             if r.action == "allow" and not any(rule_covered(r, b) for b in before)]
    found += [Widening("network", r.group, "rule", f"removed: {r.describe()}") for r in sorted(before - after, key=str)
              if r.action == "deny"]
    for logical_id, resource in sorted(new.items()):
        was = old.get(logical_id, {})
        if resource.get("Type") == "AWS::Lambda::Function" and "VpcConfig" in was.get("Properties", {}) \
                and "VpcConfig" not in resource.get("Properties", {}):
            found.append(Widening("network", logical_id, "VpcConfig", "the function leaves its VPC (internet access)"))
    return found


def widening(old: dict[str, Any], new: dict[str, Any]) -> list[Widening]:
    """Every IAM and network change from the old resources to the new ones that allows more."""
    return iam_widening(old, new) + network_widening(old, new)
