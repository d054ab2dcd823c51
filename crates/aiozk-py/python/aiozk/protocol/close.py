"""aiozk's ``aiozk.protocol.close`` module: its records, defined in ``aiozk.protocol``."""

from . import CLOSE_XID, CloseRequest, CloseResponse

__all__ = ['CLOSE_XID', 'CloseRequest', 'CloseResponse']
