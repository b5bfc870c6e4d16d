"""The preview in three forms: plain text for a terminal and CI logs, Markdown for a pull-request comment, JSON
for tools. All three say the same things in the same order: what widens access first, then what is replaced,
then every added, removed and changed resource with its changed properties, then parameters and outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tap_templates.preview.changes import ResourceChange, TemplateChanges, shown, summary

MARKS = {"add": "+", "remove": "-", "modify": "~"}
MAX_PROPERTIES = 12  # per resource; the rest is counted


def headline(t: TemplateChanges) -> str:
    if t.status == "unchanged":
        return "no changes"
    c = t.counts()
    parts = [f"{c['add']} to add", f"{c['remove']} to remove", f"{c['modify']} to change"]
    extra = [f"{c['replace']} replaced"] if c["replace"] else []
    extra += [f"{len(t.widening)} widening access"] if t.widening and t.status != "new" else []
    prefix = {"new": "new StackSet: ", "removed": "StackSet no longer rendered: "}.get(t.status, "")
    return prefix + ", ".join(parts) + (f" ({', '.join(extra)})" if extra else "")


def by_type(t: TemplateChanges) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for r in t.resources:
        counts[r.resource_type] = counts.get(r.resource_type, 0) + 1
    return sorted(counts.items())


def on_replace(r: ResourceChange) -> str:
    """What happens to the old resource (and its data) when it is replaced or removed."""
    policy = r.update_replace_policy if r.action == "modify" else r.deletion_policy
    if policy in ("Retain", "RetainExceptOnCreate"):
        return f"{'UpdateReplacePolicy' if r.action == 'modify' else 'DeletionPolicy'} {policy}: the old one is " \
               "kept, outside the stack, with its data"
    if policy == "Snapshot":
        return "a snapshot is taken, then the old one is deleted"
    return "the old one is deleted"


def _resource_line(r: ResourceChange, width: int) -> str:
    mark = "!" if r.replaced else MARKS[r.action]
    note = ""
    if r.replaced:
        note = f"  REPLACED: {'; '.join(r.reasons)} ({on_replace(r)})"
    elif r.replacement == "unknown":
        note = f"  replacement unknown: {'; '.join(r.reasons)}"
    elif r.action == "remove":
        note = f"  ({on_replace(r)})"
    elif r.reasons:
        note = f"  ({'; '.join(r.reasons)})"
    return f"  {mark} {r.logical_id.ljust(width)}  {r.resource_type}{note}"


def text(changes: Sequence[TemplateChanges], title: str = "") -> list[str]:
    lines = [title] if title else []
    for t in changes:
        lines.append(f"{t.title}: {headline(t)}")
        if t.status == "unchanged":
            continue
        if t.status == "new":  # all of it is new: by type, the widening it brings is the whole template
            lines += [f"  + {count} {kind}" for kind, count in by_type(t)]
            continue
        if t.widening:
            lines.append("  access widened (IAM and network):")
            lines += [f"    {w.describe()}" for w in t.widening]
        width = max((len(r.logical_id) for r in t.resources), default=0)
        for r in t.resources:
            lines.append(_resource_line(r, width))
            shown_properties = [*r.properties, *r.attributes]
            lines += [f"      {p.describe()}" for p in shown_properties[:MAX_PROPERTIES]]
            if len(shown_properties) > MAX_PROPERTIES:
                lines.append(f"      ... and {len(shown_properties) - MAX_PROPERTIES} more")
        if t.parameters:
            lines.append("  parameters:")
            lines += [f"      {p.name}: {p.old or '(none)'} -> {p.new or '(none)'}" for p in t.parameters]
        if t.outputs:
            lines.append("  outputs:")
            lines += [f"      {o.describe()}" for o in t.outputs]
        lines += [f"  note: {n}" for n in t.notes]
    total = summary(changes)
    lines.append(f"total: {total['add']} to add, {total['remove']} to remove, {total['modify']} to change, "
                 f"{total['replace']} replaced, {total['widening']} widening access")
    return lines


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _code(value: str) -> str:
    return f"`{value.replace('`', chr(39))}`"


def markdown(changes: Sequence[TemplateChanges], title: str = "Change preview") -> str:
    total = summary(changes)
    out = [f"## {title}", "",
           f"**{total['add']} to add, {total['remove']} to remove, {total['modify']} to change, "
           f"{total['replace']} replaced, {total['widening']} widening access**", ""]
    for t in changes:
        out += [f"### {t.environment} {t.region} ({_code(t.stack_set)}): {headline(t)}", ""]
        if t.status == "unchanged":
            continue
        if t.status == "new":
            out += ["| resources | type |", "| --- | --- |"] + [f"| {n} | {k} |" for k, n in by_type(t)] + [""]
            continue
        if t.widening:
            out += ["#### Access widened (IAM and network)", "", "| resource | where | change |", "| --- | --- | --- |"]
            out += [f"| {_code(w.logical_id)} | {_cell(w.where)} | {_cell(w.what)} |" for w in t.widening]
            out.append("")
        replaced = [r for r in t.resources if r.replaced]
        if replaced:
            out += ["#### Replaced", "", "| resource | type | why | the old one |", "| --- | --- | --- | --- |"]
            out += [f"| {_code(r.logical_id)} | {r.resource_type} | {_cell('; '.join(r.reasons))} | "
                    f"{_cell(on_replace(r))} |" for r in replaced]
            out.append("")
        if t.resources:
            out += ["#### Resources", "", "| | resource | type | changes |", "| --- | --- | --- | --- |"]
            for r in t.resources:
                props = [*r.properties, *r.attributes]
                why = [] if r.replaced else [_cell("; ".join(r.reasons))] if r.reasons else []
                listed = "<br>".join(why + [_cell(_code(p.describe())) for p in props[:MAX_PROPERTIES]])
                if len(props) > MAX_PROPERTIES:
                    listed += f"<br>... and {len(props) - MAX_PROPERTIES} more"
                mark = "**!**" if r.replaced else MARKS[r.action]
                out.append(f"| {mark} | {_code(r.logical_id)} | {r.resource_type} | {listed} |")
            out.append("")
        if t.parameters:
            out += ["#### Parameters", "", "| parameter | from | to |", "| --- | --- | --- |"]
            out += [f"| {_code(p.name)} | {_code(p.old or '(none)')} | {_code(p.new or '(none)')} |"
                    for p in t.parameters]
            out.append("")
        if t.outputs:
            out += ["#### Outputs", ""] + [f"- {_code(o.path)}: {_code(shown(o.old))} -> {_code(shown(o.new))}"
                                          for o in t.outputs] + [""]
        out += [f"> {n}" for n in t.notes]
    return "\n".join(out).rstrip() + "\n"


def to_json(changes: Sequence[TemplateChanges], title: str = "") -> str:
    return json.dumps({"title": title, "summary": summary(changes), "templates": [t.to_json() for t in changes]},
                      indent=2, sort_keys=True, default=str) + "\n"


FORMATS = ("text", "markdown", "json")


def render(changes: Sequence[TemplateChanges], form: str, title: str = "") -> str:
    if form == "markdown":
        return markdown(changes, title or "Change preview")
    if form == "json":
        return to_json(changes, title)
    return "\n".join(text(changes, title)) + "\n"
