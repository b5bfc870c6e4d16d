"""The command-line tools, one module per command, each with ``run(argv, prog)``.

``tap <command>`` (installed with the package) and ``python scripts/<command>.py`` run the same code; the
logic they call lives in the library (``render``, ``deploy/``, ``operations/``, ``local/``), so these modules
only parse arguments and print.
"""
