"""Cache-line latency defaults for machines described only by their SLIT (detect, numactl import).

docs/sources.md, "Cache-line transfer latency": SMT 10 ns (H), same L3 30 ns (H), same die other L3 120 ns (M),
same socket other die 200 ns (M), cross socket 1 hop 300 ns (M), 2 hops 380 ns (L).
"""

from __future__ import annotations

SMT_NS = 10
L3_NS = 30
NODE_NS = 120
SAME_SOCKET_NS = 200
CROSS_SOCKET_NS = (300, 380)  # 1 hop, then 2 or more hops
# Without socket information, SLIT values up to this are taken as "same socket": vendors report
# 11-16 inside a socket and 20 or more across (docs/sources.md, "SLIT distances").
MAX_SAME_SOCKET_SLIT = 16


def remote_latency(distance: list[list[int]], socket_of_node: list[int] | None) -> dict[int, int]:
    """Latency per off-diagonal SLIT value; cross-socket values rank into 1 hop, then 2+ hops."""
    n = len(distance)
    same: set[int] = set()
    cross: set[int] = set()
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            d = distance[i][j]
            if socket_of_node is not None:
                local = socket_of_node[i] == socket_of_node[j]
            else:
                local = d <= MAX_SAME_SOCKET_SLIT
            (same if local else cross).add(d)
    result = {d: SAME_SOCKET_NS for d in same}
    for rank, d in enumerate(sorted(cross)):
        # a value seen both inside and across sockets takes the dearer tier
        result[d] = max(result.get(d, 0), CROSS_SOCKET_NS[min(rank, len(CROSS_SOCKET_NS) - 1)])
    return result


def default_latency(distance: list[list[int]], socket_of_node: list[int] | None,
                    smt: bool, l3: bool) -> dict:
    latency: dict = {}
    if smt:
        latency["smt"] = SMT_NS
    if l3:
        latency["l3"] = L3_NS
    latency["node"] = NODE_NS
    remote = remote_latency(distance, socket_of_node)
    if remote:
        latency["remote"] = remote
    return latency
