"""aiozk's ``aiozk.protocol.children`` module: its records, defined in ``aiozk.protocol``."""

from . import GetChildrenRequest, GetChildrenResponse, GetChildren2Request, GetChildren2Response

__all__ = ['GetChildrenRequest', 'GetChildrenResponse', 'GetChildren2Request', 'GetChildren2Response']
