"""The client's metrics, as the Rust client records them (``aiozk::metrics``).

``enable()`` installs the recorder; clients started afterwards record requests by operation
and outcome, latencies, disconnects and reconnects by cause, session events, live watches,
watch events, bytes and coalesced reads. ``prometheus_text()`` is the Prometheus text
format (serve it on ``/metrics``), ``samples()`` the same numbers as a dict. A client's own
counters are ``ZKClient.stats()``.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from . import _aiozk

__all__ = ['enable', 'prometheus_text', 'samples']

#: A series: the metric's name and its labels, sorted.
Series = Tuple[str, Tuple[Tuple[str, str], ...]]


def enable() -> None:
    """Installs the process's recorder (once; later calls do nothing). Clients started
    before it record nothing."""
    _aiozk.enable_metrics()


def prometheus_text() -> str:
    """Every metric in the Prometheus text format (empty before ``enable()``)."""
    return _aiozk.metrics_text() or ''


def samples() -> Dict[Series, float]:
    """Every sample of ``prometheus_text()``: ``{(name, ((label, value), ...)): value}``
    (histograms as their ``_count`` and ``_sum`` samples and quantiles)."""
    result: Dict[Series, float] = {}
    for line in prometheus_text().splitlines():
        if not line or line.startswith('#'):
            continue
        series, _, value = line.rpartition(' ')
        name, _, rest = series.partition('{')
        labels = []
        for part in _label_parts(rest.rstrip('}')):
            key, _, quoted = part.partition('=')
            labels.append((key, quoted[1:-1].replace('\\"', '"').replace('\\\\', '\\')))
        result[(name, tuple(sorted(labels)))] = float(value)
    return result


def _label_parts(text: str) -> List[str]:
    """Splits ``a="x",b="y,z"`` at the commas between labels."""
    parts: List[str] = []
    current, quoted, escaped = '', False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == '\\':
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ',' and not quoted:
            parts.append(current)
            current = ''
            continue
        current += ch
    if current:
        parts.append(current)
    return parts
