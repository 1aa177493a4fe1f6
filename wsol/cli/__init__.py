"""The ``wsol`` command: one module per subcommand, each with ``add_parser(subparsers)`` and ``run(args)``.

The CLI is the only place that parses argv, prints, and turns flags into keyword arguments (see STYLE.md).
"""
