"""Session states: aiozk's ``States`` and ``SessionStateMachine``.

The Rust session reports its own, finer states; they map onto aiozk's four:

===================================  ===========
Rust state                           aiozk state
===================================  ===========
connecting (first connect)           LOST
connected                            CONNECTED
connected_read_only                  READ_ONLY
disconnected, connecting (again)     SUSPENDED
expired, auth_failed, closed         LOST
===================================  ===========

So a session expiry shows as SUSPENDED → LOST → CONNECTED (a new session), as in aiozk.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
from typing import Any, ClassVar, DefaultDict, Dict, Set, Tuple

from . import exc

log = logging.getLogger(__name__)


class States:
    """aiozk's session states (plain strings)."""

    CONNECTED = 'connected'
    SUSPENDED = 'suspended'
    READ_ONLY = 'read_only'
    LOST = 'lost'


class SessionStateMachine:
    """The current state, and futures waiting for states (``client.session.state``).

    Compares equal to the name of the current state (``zk.session.state == States.LOST``).
    """

    valid_transitions: ClassVar[Set[Tuple[str, str]]] = {
        (States.LOST, States.CONNECTED),
        (States.LOST, States.READ_ONLY),
        (States.CONNECTED, States.SUSPENDED),
        (States.CONNECTED, States.LOST),
        (States.READ_ONLY, States.CONNECTED),
        (States.READ_ONLY, States.SUSPENDED),
        (States.READ_ONLY, States.LOST),
        (States.SUSPENDED, States.CONNECTED),
        (States.SUSPENDED, States.READ_ONLY),
        (States.SUSPENDED, States.LOST),
    }

    def __init__(self, session: Any = None) -> None:
        self.session = session
        self.current_state = States.LOST
        self.futures: DefaultDict[str, Set[asyncio.Future]] = collections.defaultdict(set)

    def transition_to(self, state: str) -> None:
        """Moves to ``state`` (raises ``exc.InvalidStateTransition`` for a transition aiozk
        does not allow) and wakes its waiters. The Rust session is not affected."""
        if (self.current_state, state) not in self.valid_transitions:
            raise exc.InvalidStateTransition(f'Invalid session state transition: {self.current_state} -> {state}')
        self._set(state)

    def _set(self, state: str) -> None:
        if state == self.current_state:
            return
        log.debug('Session transition: %s -> %s', self.current_state, state)
        self.current_state = state
        waiting = self.futures.pop(state, set())
        for future in waiting:
            if not future.done():
                future.set_result(None)

    def wait_for(self, *states: str) -> asyncio.Future:
        """A future resolved when one of ``states`` is reached (at once if current)."""
        f = asyncio.get_running_loop().create_future()
        if self.current_state in states:
            f.set_result(None)
        else:
            for state in states:
                self.futures[state].add(f)
            f.add_done_callback(lambda fut: self._forget(fut, states))
        return f

    def _forget(self, future: asyncio.Future, states: Tuple[str, ...]) -> None:
        for state in states:
            self.futures.get(state, set()).discard(future)

    def remove_waiting(self, future: asyncio.Future, *states: str) -> None:
        """Stops ``future`` waiting for ``states`` (KeyError if it was not, as aiozk)."""
        for state in states:
            self.futures[state].remove(future)

    def waitings(self, *states: str) -> Dict[str, Set[asyncio.Future]]:
        """The futures waiting for each of ``states`` (copies)."""
        return {state: copy.copy(self.futures[state]) for state in states}

    def __eq__(self, state: object) -> bool:
        return self.current_state == state

    def __ne__(self, state: object) -> bool:
        return self.current_state != state

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f'<SessionStateMachine {self.current_state}>'
