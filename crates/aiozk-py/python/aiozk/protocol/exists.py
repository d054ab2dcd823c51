"""aiozk's ``aiozk.protocol.exists`` module: its records, defined in ``aiozk.protocol``."""

from . import ExistsRequest, ExistsResponse

__all__ = ['ExistsRequest', 'ExistsResponse']
