"""One module per AWS component of a region's template, each a ``build(cfg, region, ...)`` that returns a
frozen dataclass with ``resources()`` and ``outputs()``; ``tap_templates.template`` wires them together.

Besides the components: ``policies`` (awacs helpers every component's IAM documents use), ``compat``
(corrections to troposphere classes), ``scanner_skips`` (the scanner findings accepted, with reasons) and
``iam_rules`` (the only wildcards a policy may use).
"""
