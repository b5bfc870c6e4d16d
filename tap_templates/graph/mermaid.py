"""A region's graph as Mermaid text (``flowchart LR``), which GitHub renders in pull requests and Markdown.

Components are subgraphs; the data path is drawn with solid arrows, replication with thick ones, who may call
what (a role's actions) with dotted ones; releases and alarm notifications are dotted too, with their labels.
"""

from __future__ import annotations

from tap_templates.graph.model import Graph

ARROWS = {"data": "-->", "replication": "==>", "access": "-.->", "release": "-.->", "notify": "-.->"}


def _quote(text: str) -> str:
    """Mermaid's own entity codes (``#lt;``) for characters its labels cannot hold."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(graph: Graph) -> str:
    lines = ["---", f"title: {graph.title}", "---", "flowchart LR"]
    for group, title, nodes in graph.groups():
        lines.append(f'  subgraph {group}["{_quote(title)}"]')
        for node in nodes:
            detail = "".join(f"<br/><small>{_quote(line)}</small>" for line in node.detail.splitlines())
            lines.append(f'    {node.id}["{_quote(node.label)}{detail}"]')
        lines.append("  end")
    for edge in graph.edges:
        lines.append(f'  {edge.source} {ARROWS[edge.kind]}|"{_quote(edge.label)}"| {edge.target}')
    return "\n".join(lines) + "\n"
