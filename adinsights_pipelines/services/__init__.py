"""Use cases shared by the entry points: the CLI, the API's routes and the Dagster assets.

Plain functions over a database connection (and what else they need, passed in), tested directly.
An entry point parses its input, calls one service and renders the answer; what a use case writes
(rows and their audit record) happens here, in one transaction, the same from every entry point.
"""
