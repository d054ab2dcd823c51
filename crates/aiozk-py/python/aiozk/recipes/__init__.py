"""Recipes: ``client.recipes.<Name>(...)`` for every name of ``RECIPES``.

aiozk's twelve (DataWatcher, ChildrenWatcher, Lock, SharedLock, Lease, Barrier,
DoubleBarrier, LeaderElection, Party, Counter, TreeCache, Allocator), plus Semaphore, Queue
and LeaderSelector (Curator's); all backed by the Rust recipes, with aiozk's znode layouts
unless a ``layout`` says otherwise.
"""

from .allocator import Allocator
from .barrier import Barrier
from .children_watcher import ChildrenWatcher
from .counter import Counter
from .data_watcher import DataWatcher
from .double_barrier import DoubleBarrier
from .election import LeaderElection
from .fence import Fence, FencedTransaction
from .lease import Lease
from .leader_selector import Leadership, LeaderSelector, Participant
from .lock import Lock
from .party import Party
from .proxy import RecipeProxy
from .queue import Queue
from .recipe import Recipe
from .semaphore import Permit, Semaphore
from .shared_lock import SharedLock
from .tree_cache import TreeCache

RECIPES = {
    'DataWatcher': DataWatcher,
    'ChildrenWatcher': ChildrenWatcher,
    'Lock': Lock,
    'SharedLock': SharedLock,
    'Lease': Lease,
    'Barrier': Barrier,
    'DoubleBarrier': DoubleBarrier,
    'LeaderElection': LeaderElection,
    'LeaderSelector': LeaderSelector,
    'Party': Party,
    'Counter': Counter,
    'TreeCache': TreeCache,
    'Allocator': Allocator,
    'Semaphore': Semaphore,
    'Queue': Queue,
}

__all__ = [
    'RECIPES',
    'Allocator',
    'Barrier',
    'ChildrenWatcher',
    'Counter',
    'DataWatcher',
    'DoubleBarrier',
    'Fence',
    'FencedTransaction',
    'LeaderElection',
    'LeaderSelector',
    'Leadership',
    'Lease',
    'Lock',
    'Participant',
    'Party',
    'Permit',
    'Queue',
    'Recipe',
    'RecipeProxy',
    'Semaphore',
    'SharedLock',
    'TreeCache',
]
