"""``python -m adinsights_pipelines.cli``: the ``adinsights`` command."""

from adinsights_pipelines.cli import main

main()
