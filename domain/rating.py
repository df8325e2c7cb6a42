"""Glicko-2 (Glickman, "Example of the Glicko-2 system", 2012): a rating with a deviation
and a volatility, so that a newcomer's standing moves fast and a veteran's slowly.

Pure arithmetic on floats; the ledger stores the results as events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALE = 173.7178
CONVERGENCE = 1e-6


@dataclass(frozen=True)
class Rating:
    rating: float = 1500.0
    deviation: float = 350.0
    volatility: float = 0.06


@dataclass(frozen=True)
class Game:
    opponent: Rating
    score: float
    """1 win, 0 loss, anything between for partial credit."""


def _g(phi: float) -> float:
    return 1 / math.sqrt(1 + 3 * phi**2 / math.pi**2)


def _expected(mu: float, mu_j: float, phi_j: float) -> float:
    return 1 / (1 + math.exp(-_g(phi_j) * (mu - mu_j)))


def update(player: Rating, games: list[Game], tau: float) -> Rating:
    """The player's rating after one rating period with ``games`` (steps 2-8 of the paper)."""
    mu = (player.rating - 1500) / SCALE
    phi = player.deviation / SCALE
    if not games:  # step 6 alone: only the deviation grows
        return Rating(player.rating, math.sqrt(phi**2 + player.volatility**2) * SCALE,
                      player.volatility)
    opponents = [((g.opponent.rating - 1500) / SCALE, g.opponent.deviation / SCALE, g.score)
                 for g in games]
    v = 1 / sum(_g(phi_j) ** 2 * _expected(mu, mu_j, phi_j) * (1 - _expected(mu, mu_j, phi_j))
                for mu_j, phi_j, _ in opponents)
    delta = v * sum(_g(phi_j) * (s - _expected(mu, mu_j, phi_j)) for mu_j, phi_j, s in opponents)
    sigma = _new_volatility(phi, player.volatility, v, delta, tau)
    phi_star = math.sqrt(phi**2 + sigma**2)
    phi_new = 1 / math.sqrt(1 / phi_star**2 + 1 / v)
    mu_new = mu + phi_new**2 * sum(_g(phi_j) * (s - _expected(mu, mu_j, phi_j))
                                   for mu_j, phi_j, s in opponents)
    return Rating(1500 + SCALE * mu_new, SCALE * phi_new, sigma)


def _new_volatility(phi: float, sigma: float, v: float, delta: float, tau: float) -> float:
    """Step 5: the Illinois algorithm on f(x) = 0, x = ln(sigma'^2)."""
    a = math.log(sigma**2)

    def f(x: float) -> float:
        ex = math.exp(x)
        return (ex * (delta**2 - phi**2 - v - ex) / (2 * (phi**2 + v + ex) ** 2)
                - (x - a) / tau**2)

    big_a = a
    if delta**2 > phi**2 + v:
        big_b = math.log(delta**2 - phi**2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > CONVERGENCE:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2)
