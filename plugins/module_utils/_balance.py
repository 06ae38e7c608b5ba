# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How nginx picks a backend, as arithmetic (from ngx_http_upstream_*.c).

Pure functions, standard library only: they run on targets too.
"""

from __future__ import annotations

import ipaddress
import math


def swrr_sequence(weights, count):
    """Indices nginx's smooth weighted round robin picks, `count` times.

    Each pick adds every weight to its peer's current value, the largest
    wins (ties: the earlier peer) and loses the total.
    """
    current = [0] * len(weights)
    total = sum(weights)
    picks = []
    for dummy in range(count):
        best = None
        for index, weight in enumerate(weights):
            current[index] += weight
            if best is None or current[index] > current[best]:
                best = index
        current[best] -= total
        picks.append(best)
    return picks


def expected_counts(weights, count):
    """How many of the first `count` picks each peer gets."""
    counts = [0] * len(weights)
    for index in swrr_sequence(weights, count):
        counts[index] += 1
    return counts


def ip_hash_index(address, weights):
    """The peer index nginx's ip_hash gives a client address.

    IPv4 hashes only the first three octets (so a whole /24 shares a peer),
    IPv6 all sixteen bytes. The 20-try fallback to round robin matters only
    when peers are down, which a verifier does not assume.
    """
    ip = ipaddress.ip_address(address)
    data = ip.packed[:3] if ip.version == 4 else ip.packed
    total = sum(weights)
    hash_value = 89
    for byte in data:
        hash_value = (hash_value * 113 + byte) % 6271
    weight_point = hash_value % total
    for index, weight in enumerate(weights):
        if weight_point < weight:
            return index
        weight_point -= weight
    raise AssertionError("unreachable: weight_point beyond total")


def _regularized_gamma_q(a, x):
    """Q(a, x) = 1 - P(a, x), the upper regularised incomplete gamma."""
    if x <= 0:
        return 1.0
    if x < a + 1:
        # Series for P.
        term = total = 1.0 / a
        n = a
        for dummy in range(1000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    # Continued fraction for Q (Lentz).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi_square(observed, expected):
    """Pearson's goodness of fit: (statistic, degrees of freedom, p-value)."""
    if len(observed) != len(expected) or len(observed) < 2:
        raise ValueError("need two or more categories of equal length")
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected) if e > 0)
    dof = len(observed) - 1
    return statistic, dof, _regularized_gamma_q(dof / 2.0, statistic / 2.0)
