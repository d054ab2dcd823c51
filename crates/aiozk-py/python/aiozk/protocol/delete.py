"""aiozk's ``aiozk.protocol.delete`` module: its records, defined in ``aiozk.protocol``."""

from . import DeleteRequest, DeleteResponse

__all__ = ['DeleteRequest', 'DeleteResponse']
