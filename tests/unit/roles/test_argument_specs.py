"""meta/argument_specs.yml is each role's contract: it must match defaults/main.yml."""

import pytest
import yaml

from helpers.paths import ROLES

# Every role of the collection, whatever files it has: a role without
# defaults or without an argument spec must fail here, not be left out.
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if p.is_dir())


def load(role, relative):
    with open(ROLES / role / relative) as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_has_a_contract(role):
    """ansible-core checks a role's input only against meta/argument_specs.yml:
    a role without one (or without a `main` entry point) takes anything."""
    assert (ROLES / role / "tasks" / "main.yml").is_file(), role
    assert (ROLES / role / "defaults" / "main.yml").is_file(), "%s has no defaults/main.yml" % role
    specs = load(role, "meta/argument_specs.yml") if (ROLES / role / "meta" / "argument_specs.yml").is_file() else {}
    assert (specs.get("argument_specs") or {}).get("main", {}).get("options"), \
        "%s: meta/argument_specs.yml has no main entry point with options" % role


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_argument_specs_declare_exactly_the_defaults(role):
    defaults = load(role, "defaults/main.yml")
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == {name for name, spec in options.items() if "default" in spec}
    for name, value in defaults.items():
        assert name in options, "%s: %s is in defaults but not in argument_specs" % (role, name)
        assert options[name].get("default") == value, "%s: default of %s differs" % (role, name)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_public_variables_carry_the_role_prefix(role):
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert all(name.startswith(role + "_") for name in options), sorted(options)


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_option_is_described(role):
    options = load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]

    def undocumented(opts, prefix=""):
        for name, spec in opts.items():
            if not spec.get("description"):
                yield prefix + name
            yield from undocumented(spec.get("options", {}), prefix + name + ".")

    assert list(undocumented(options)) == []
