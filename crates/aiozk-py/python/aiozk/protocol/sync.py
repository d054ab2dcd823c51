"""aiozk's ``aiozk.protocol.sync`` module: its records, defined in ``aiozk.protocol``."""

from . import SyncRequest, SyncResponse

__all__ = ['SyncRequest', 'SyncResponse']
