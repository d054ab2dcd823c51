"""``Stat``: a znode's metadata, with aiozk's attribute names.

=========================  ===================
attribute                  ZooKeeper field
=========================  ===================
``created_zxid``           czxid
``last_modified_zxid``     mzxid
``created``                ctime (ms)
``modified``               mtime (ms)
``version``                version
``child_version``          cversion
``acl_version``            aversion
``ephemeral_owner``        ephemeralOwner
``data_length``            dataLength
``num_children``           numChildren
``last_modified_children`` pzxid
=========================  ===================
"""

from .._aiozk import Stat

__all__ = ['Stat']
