"""A picture of each region, drawn from the rendered template itself (``render.py --graph``).

- ``model``: the resources grouped by component, the data path (bucket -> queue -> event source -> alias ->
  function -> table, the DLQ), replication to the other regions, and who may call what (each role's actions,
  drawn from the resource that uses the role to the resources its policy names);
- ``mermaid``: Mermaid text, which GitHub renders in pull requests and Markdown files;
- ``svg``: a self-contained SVG from a fixed grid layout (no Graphviz, no network).
"""
