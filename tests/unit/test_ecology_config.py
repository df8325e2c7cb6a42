"""An ecology config is refused, with where and why, when a key is unknown, a family is
unknown or a value cannot run."""

from pathlib import Path

import pytest

from ecology.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "ecology"
VALID = "name: t\ngenerations: 2\nfamilies: [sorting]\n"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_bundled_config_loads(path):
    assert load_config(path).name == path.stem


@pytest.mark.parametrize(("text", "complaint"), [
    (VALID + "populaton: 3\n", "populaton: Extra inputs are not permitted"),
    (VALID.replace("sorting", "poetry"), "families: unknown families ['poetry']"),
    (VALID + "held_out_per_family: 4\n", "held_out_per_family"),
    (VALID + "energy:\n  initial: 80\n  cap: 50\n", "exceeds the cap"),
    (VALID + "energy:\n  ticket: -1\n", "energy.ticket"),
    (VALID + "energy:\n  ticket: .nan\n", "energy.ticket"),
    (VALID + "difficulties: [4]\n", "difficulties are 1, 2 or 3"),
    (VALID + "routing:\n  organelle_choice: random\n", "routing.organelle_choice"),
    (VALID + "generations: 0\n", "generations"),
    ("- a list\n", "holds no mapping"),
    ("name: [unclosed\n", "cannot read"),
])
def test_an_impossible_config_is_refused_with_its_reason(tmp_path, text, complaint):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)
