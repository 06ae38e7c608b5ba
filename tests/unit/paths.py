"""Where things are in the checkout, for the unit tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
SEED_UPSTREAM_CONF = Path(__file__).resolve().parent / "data" / "tutorial_upstream.conf"
