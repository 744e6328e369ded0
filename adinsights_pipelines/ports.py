"""Loopback ports for the servers the product starts itself (the demo, simulators, sinks)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` nobody listens on now (the OS picks it; free until someone binds it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
