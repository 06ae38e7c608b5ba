"""Where things are in the checkout, for the unit tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
SEED_UPSTREAM_CONF = Path(__file__).resolve().parent / "data" / "tutorial_upstream.conf"

COLLECTIONS = ROOT / ".collections"


def collections_path():
    """A collections path on which edgeops.nginx_lb is this checkout (as `make venv` links it)."""
    link = COLLECTIONS / "ansible_collections" / "edgeops" / "nginx_lb"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT, target_is_directory=True)
    return COLLECTIONS
