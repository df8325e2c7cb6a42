import pytest

from domain.rating import Game, Rating, update


def test_glickmans_worked_example():
    # Glickman, "Example of the Glicko-2 system" (2012), section "Example calculation".
    player = Rating(1500, 200, 0.06)
    games = [Game(Rating(1400, 30), 1), Game(Rating(1550, 100), 0), Game(Rating(1700, 300), 0)]
    after = update(player, games, tau=0.5)
    assert after.rating == pytest.approx(1464.06, abs=0.01)
    assert after.deviation == pytest.approx(151.52, abs=0.01)
    assert after.volatility == pytest.approx(0.05999, abs=0.00001)


def test_a_newcomer_moves_further_than_a_veteran_on_the_same_result():
    win = [Game(Rating(1500, 100), 1)]
    newcomer = update(Rating(1500, 350, 0.06), win, tau=0.5)
    veteran = update(Rating(1500, 50, 0.06), win, tau=0.5)
    assert newcomer.rating - 1500 > 5 * (veteran.rating - 1500) > 0


def test_a_period_without_games_only_widens_the_deviation():
    idle = update(Rating(1600, 80, 0.06), [], tau=0.5)
    assert idle.rating == 1600 and idle.deviation > 80
