"""aiozk's ``aiozk.protocol.check`` module: its records, defined in ``aiozk.protocol``."""

from . import CheckVersionRequest, CheckVersionResponse

__all__ = ['CheckVersionRequest', 'CheckVersionResponse']
