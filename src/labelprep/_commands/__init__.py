"""Subcommands of the ``labelprep`` CLI: each module has ``add_arguments`` and ``run``."""
