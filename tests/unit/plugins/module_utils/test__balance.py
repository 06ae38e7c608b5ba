"""How nginx picks: the arithmetic the verifier's expectations rest on."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._balance import (
    chi_square,
    expected_counts,
    ip_hash_index,
    swrr_sequence,
)


@pytest.mark.parametrize("weights, first, sequence", [
    ([2, 1, 1], 4, [0, 1, 2, 0]),           # a b c a, as nginx does
    ([1, 1, 1], 6, [0, 1, 2, 0, 1, 2]),
    ([5, 1, 1], 7, [0, 0, 1, 0, 2, 0, 0]),  # smooth: no run of five a's
    ([1], 3, [0, 0, 0]),
])
def test_smooth_weighted_round_robin(weights, first, sequence):
    assert swrr_sequence(weights, first) == sequence


@pytest.mark.parametrize("weights", [[2, 1, 1], [3, 2, 1], [7, 1], [1, 1, 1, 1, 5]])
def test_every_block_of_total_weight_is_exact_and_counts_never_drift(weights):
    total = sum(weights)
    picks = swrr_sequence(weights, total * 10)
    for start in range(0, len(picks), total):
        block = picks[start:start + total]
        assert [block.count(i) for i in range(len(weights))] == weights
    for n in range(1, total * 10):
        counts = expected_counts(weights, n)
        assert all(abs(c - n * w / total) <= 1 for c, w in zip(counts, weights))


# Worked by hand for 127.0.N.1 and three equal servers:
# hash = 89; for each of 127, 0, N: hash = (hash * 113 + byte) % 6271; server = hash % 3.
#   127: (89*113 + 127) % 6271 = 10184 % 6271 = 3913
#     0: (3913*113) % 6271 = 442169 % 6271 = 3199
#     N: (3199*113 + N) % 6271 = (361487 + N) % 6271 = (4340 + N) % 6271 -> (4340 + N) % 3
@pytest.mark.parametrize("n, index", [(0, 2), (1, 0), (2, 1), (3, 2), (4, 0), (7, 0), (8, 1)])
def test_ip_hash_of_127_0_n_1_for_three_equal_servers(n, index):
    assert (4340 + n) % 3 == index
    assert ip_hash_index("127.0.%d.1" % n, [1, 1, 1]) == index


def test_ip_hash_uses_three_octets_only():
    assert len({ip_hash_index("192.0.2.%d" % last, [1, 1, 1]) for last in range(256)}) == 1


def test_ip_hash_walks_the_weights():
    # With weights 2,1 the points 0,1 belong to the first server and 2 to the second.
    for n in range(20):
        point = (4340 + n) % 6271 % 3
        assert ip_hash_index("127.0.%d.1" % n, [2, 1]) == (0 if point < 2 else 1)


def test_ip_hash_ipv6_uses_all_bytes():
    seen = {ip_hash_index("2001:db8::%x" % last, [1, 1, 1]) for last in range(1, 64)}
    assert seen == {0, 1, 2}


@pytest.mark.parametrize("observed, expected, statistic, p_value", [
    ([50, 50], [50, 50], 0.0, 1.0),
    ([60, 40], [50, 50], 4.0, 0.0455),        # chi2(1) survival at 4.0
    ([30, 30, 40], [33.3333, 33.3333, 33.3333], 2.0, 0.3679),  # exp(-1) for dof 2
    ([10, 20, 30, 40], [25, 25, 25, 25], 20.0, 0.00017),
])
def test_chi_square_against_known_values(observed, expected, statistic, p_value):
    stat, dof, p = chi_square(observed, expected)
    assert stat == pytest.approx(statistic, abs=1e-3)
    assert dof == len(observed) - 1
    assert p == pytest.approx(p_value, rel=2e-2, abs=1e-5)
