"""aiozk's ``aiozk.protocol.create`` module: its records, defined in ``aiozk.protocol``."""

from . import CreateRequest, CreateResponse, Create2Request, Create2Response

__all__ = ['CreateRequest', 'CreateResponse', 'Create2Request', 'Create2Response']
