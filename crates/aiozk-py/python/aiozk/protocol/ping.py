"""aiozk's ``aiozk.protocol.ping`` module: its records, defined in ``aiozk.protocol``."""

from . import PING_XID, PingRequest, PingResponse

__all__ = ['PING_XID', 'PingRequest', 'PingResponse']
