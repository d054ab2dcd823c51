"""aiozk.metrics (the Rust client's metrics, in the Prometheus text format) and the byte
counters of ZKClient.stats(), on a real server."""

import aiozk
from aiozk import metrics


async def test_metrics_count_the_requests_made(servers, path):
    metrics.enable()
    metrics.enable()  # a second call does nothing
    get_data = ('zookeeper_client_requests_total', (('op', 'getData'), ('outcome', 'ok')))
    no_node = ('zookeeper_client_requests_total', (('op', 'getData'), ('outcome', 'no_node')))
    before = metrics.samples()
    # Started after enable(), so its requests are recorded.
    async with aiozk.ZKClient(servers) as zk:
        await zk.create(path, 'x')
        for _ in range(7):
            assert await zk.get_data(path) == b'x'
        try:
            await zk.get_data(path + '/none')
        except aiozk.exc.NoNode:
            pass
        stats = zk.stats()
        await zk.delete(path)
    after = metrics.samples()
    assert after[get_data] - before.get(get_data, 0) == 7
    assert after[no_node] - before.get(no_node, 0) == 1
    text = metrics.prometheus_text()
    assert '# TYPE zookeeper_client_request_duration_seconds summary' in text
    assert 'zookeeper_client_requests_total{op="getData",outcome="ok"}' in text
    assert stats['bytes_sent'] > 0 and stats['bytes_received'] > 0
    assert stats['requests'] >= 9
