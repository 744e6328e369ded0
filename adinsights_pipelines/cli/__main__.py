"""``python -m adinsights_pipelines.cli``: the ``adinsights`` command."""

from adinsights_pipelines.cli.main import main

main()
