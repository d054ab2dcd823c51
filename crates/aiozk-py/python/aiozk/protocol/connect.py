"""aiozk's ``aiozk.protocol.connect`` module: its records, defined in ``aiozk.protocol``."""

from . import ConnectRequest, ConnectResponse

__all__ = ['ConnectRequest', 'ConnectResponse']
