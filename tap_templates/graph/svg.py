"""A region's graph as a self-contained SVG: components in a fixed grid (the data path along the top row), their
nodes stacked inside, edges as curves between node sides, coloured by kind, and who may call what listed under
the picture (the dotted purple edges, whose labels would cover each other). No layout engine, no fonts to fetch:
what any browser or pull-request viewer shows."""

from __future__ import annotations

from xml.sax.saxutils import escape

from tap_templates.graph.model import Graph, Node

# Where each component sits: (column, row). The top row is the data path, left to right.
GRID: dict[str, tuple[int, int]] = {
    "storage": (0, 0), "queues": (1, 0), "processor": (2, 0), "data": (3, 0), "elsewhere": (4, 0),
    "keys": (0, 1), "release": (1, 1), "monitoring": (2, 1), "health": (3, 1),
    "network": (0, 2), "audit": (1, 2),
}
COLOURS = {"data": "#1f4e79", "replication": "#2e7d32", "access": "#6a1b9a", "release": "#c62828",
           "notify": "#757575"}
LEGEND = {"data": "data path", "replication": "replication", "access": "who may call what (listed below)",
          "release": "release", "notify": "alarm notifications"}
NODE_W, GAP, PAD, TITLE, COLUMN_GAP, ROW_GAP, MARGIN, LINE = 250, 8, 12, 26, 190, 60, 30, 14
Box = tuple[float, float, float, float]  # x, y, width, height


def node_height(node: Node) -> float:
    return 22 + LINE * len(node.detail.splitlines()) if node.detail else 26


def _layout(graph: Graph) -> tuple[dict[str, Box], dict[str, Box]]:
    """Each node's box and each component's box."""
    groups = graph.groups()
    heights: dict[int, float] = {}
    for group, _, nodes in groups:
        row = GRID.get(group, (4, 2))[1]
        heights[row] = max(heights.get(row, 0), TITLE + PAD + sum(node_height(n) + GAP for n in nodes))
    tops, y = {}, MARGIN + 30.0
    for row in sorted(heights):
        tops[row] = y
        y += heights[row] + ROW_GAP
    nodes_at: dict[str, Box] = {}
    boxes: dict[str, Box] = {}
    for group, _, nodes in groups:
        column, row = GRID.get(group, (4, 2))
        x, y = MARGIN + column * (NODE_W + 2 * PAD + COLUMN_GAP), tops[row] + TITLE
        for node in nodes:
            nodes_at[node.id] = (x + PAD, y, NODE_W, node_height(node))
            y += node_height(node) + GAP
        boxes[group] = (x, tops[row], NODE_W + 2 * PAD, y - tops[row] + PAD - GAP)
    return nodes_at, boxes


def _node(node: Node, box: Box) -> list[str]:
    x, y, w, h = box
    lines = [f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="5" class="node"/>',
             f'<text x="{x + 8:.0f}" y="{y + 16:.0f}" class="label">{escape(node.label)}</text>']
    lines += [f'<text x="{x + 8:.0f}" y="{y + 16 + LINE * (i + 1):.0f}" class="detail">{escape(text)}</text>'
              for i, text in enumerate(node.detail.splitlines())]
    return lines


def _edge(start: Box, end: Box, label: str, kind: str, stagger: int = 0) -> list[str]:
    """A curve from the side of one node to the facing side of the other; within one column, out of the right
    side and back into it."""
    (x1, y1, w, h1), (x2, y2, _, h2) = start, end
    sy, ty = y1 + h1 / 2, y2 + h2 / 2
    if x2 > x1:
        sx, tx, c1, c2 = x1 + w, x2, x1 + w + 50, x2 - 50
    elif x2 < x1:
        sx, tx, c1, c2 = x1, x2 + w, x1 - 50, x2 + w + 50
    else:
        sx, tx, c1, c2 = x1 + w, x2 + w, x1 + w + 60, x2 + w + 60
    dash = "" if kind in ("data", "replication") else ' stroke-dasharray="5,4"'
    found = [f'<path d="M{sx:.0f},{sy:.0f} C{c1:.0f},{sy:.0f} {c2:.0f},{ty:.0f} {tx:.0f},{ty:.0f}" fill="none" '
             f'stroke="{COLOURS[kind]}" stroke-width="{2.5 if kind == "replication" else 1.4}"{dash} '
             f'marker-end="url(#arrow-{kind})"><title>{escape(label)}</title></path>']
    if kind != "access":  # next to where the edge leaves its node: in the gap between the columns
        anchor = "end" if x2 < x1 else "start"
        found.append(f'<text x="{sx + (-6 if x2 < x1 else 6):.0f}" y="{sy - 5 - 11 * stagger:.0f}" '
                     f'text-anchor="{anchor}" '
                     f'class="edge" fill="{COLOURS[kind]}">{escape(label)}</text>')
    return found


def _header(width: float, height: float) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif">',
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           "<style>.group{fill:#f4f6f8;stroke:#b0bec5}.node{fill:#fff;stroke:#546e7a}"
           ".title{font-size:13px;font-weight:bold;fill:#263238}.label{font-size:12px;fill:#263238}"
           ".detail{font-size:10px;fill:#607d8b}.edge{font-size:10px;paint-order:stroke;stroke:#fff;"
           "stroke-width:3px}</style>", "<defs>"]
    out += [f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
            for kind, colour in COLOURS.items()]
    return [*out, "</defs>"]


def svg(graph: Graph) -> str:
    nodes_at, boxes = _layout(graph)
    access = [e for e in graph.edges if e.kind == "access"]
    width = max((x + w for x, _, w, _ in boxes.values()), default=400) + MARGIN
    bottom = max((y + h for _, y, _, h in boxes.values()), default=200) + 30
    height = bottom + 40 + LINE * (len(access) + 2) + MARGIN
    out = _header(width, height)
    out.append(f'<text x="{MARGIN}" y="{MARGIN + 6}" class="title">{escape(graph.title)}</text>')
    titles = {g: t for g, t, _ in graph.groups()}
    for group, (x, y, w, h) in boxes.items():
        out += [f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="8" class="group"/>',
                f'<text x="{x + 10:.0f}" y="{y + 18:.0f}" class="title">{escape(titles[group])}</text>']
    for node_id, box in nodes_at.items():
        out += _node(graph.nodes[node_id], box)
    labelled: dict[tuple[str, bool], int] = {}  # labels leaving one side of a node are stacked, not overlaid
    for edge in graph.edges:
        side = (edge.source, nodes_at[edge.target][0] < nodes_at[edge.source][0])
        out += _edge(nodes_at[edge.source], nodes_at[edge.target], edge.label, edge.kind, labelled.get(side, 0))
        labelled[side] = labelled.get(side, 0) + (edge.kind != "access")
    for i, (kind, colour) in enumerate(COLOURS.items()):
        out.append(f'<text x="{MARGIN + i * 240}" y="{bottom:.0f}" class="label" fill="{colour}">'
                   f"&#8594; {LEGEND[kind]}</text>")
    out.append(f'<text x="{MARGIN}" y="{bottom + 30:.0f}" class="title">Who may call what</text>')
    out += [f'<text x="{MARGIN}" y="{bottom + 30 + LINE * (i + 1):.0f}" class="label">'
            f"{escape(graph.nodes[e.source].label)} &#8594; {escape(graph.nodes[e.target].label)}: "
            f"{escape(e.label)}</text>" for i, e in enumerate(access)]
    out.append("</svg>")
    return "\n".join(out) + "\n"
