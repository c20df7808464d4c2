"""`middle.tasks.ns`: middle's task collection, where a project's `tasks.py` imports it
(`ns.add_collection(middle.tasks.ns)`, or `from middle.tasks import ns` as its root).

The tasks themselves live in `middle.cli`, with the `middle` command that runs the same
collection.
"""

from middle.cli.tasks import ns

__all__ = ["ns"]
