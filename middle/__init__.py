"""middle: middle management for coding agents, as an Invoke plugin."""

from middle.errors import (
    AlreadyInFlight,
    MiddleError,
)

__all__ = ["AlreadyInFlight", "MiddleError"]
__version__ = "0.1.0"
