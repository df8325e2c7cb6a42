"""Loading an economy policy from a TOML file (the shipped default unless one is named)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from domain.economy import EconomyPolicy


class PolicyError(ValueError):
    pass


def load_policy(path: Path | None = None) -> EconomyPolicy:
    try:
        text = (path.read_text() if path is not None
                else resources.files("policies").joinpath("default.toml").read_text())
        return EconomyPolicy.model_validate(tomllib.loads(text))
    except OSError as error:
        raise PolicyError(f"cannot read policy {path}: {error}") from None
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        raise PolicyError(f"invalid policy {path or 'default.toml'}: {error}") from None
