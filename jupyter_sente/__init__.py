"""jupyter-sente: Sente's realtime channel sockets for Jupyter."""

from jupyter_sente._version import __version__

__all__ = ["__version__"]
