"""aiozk's ``aiozk.protocol.reconfig`` module: its records, defined in ``aiozk.protocol``."""

from . import ReconfigRequest, ReconfigResponse

__all__ = ['ReconfigRequest', 'ReconfigResponse']
