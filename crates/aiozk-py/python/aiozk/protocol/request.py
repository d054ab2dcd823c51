"""aiozk's ``aiozk.protocol.request`` module: its records, defined in ``aiozk.protocol``."""

from . import Request

__all__ = ['Request']
