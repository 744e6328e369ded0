"""``adinsights``: the operator's command line.

One module per command group (``tenants``, ``credentials``, ``keys``, ``airbyte``, ``meta``,
``fx``, ``warehouse``, ``checks``, ``demo``); each command parses its input, calls one use case
(most live in :mod:`adinsights_pipelines.services`) and prints the answer. ``main.py`` assembles
them on the root group; this package imports none of its modules, so the group modules can share
``common.py`` without an import cycle. Heavy modules (Dagster, dbt, the warehouse start-up) are
imported inside the commands, so ``adinsights --help`` stays quick.
"""
