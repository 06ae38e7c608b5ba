"""The release notes: changelogs/changelog.yaml is what antsibull-changelog
generates CHANGELOG.rst from (a YAML error there passed `antsibull-changelog
lint`, which reads the fragments only), galaxy.yml's version is one of its
releases, and CHANGELOG.rst was generated after the last edit."""

import yaml

from helpers.paths import ROOT


def releases():
    with open(ROOT / "changelogs" / "changelog.yaml", encoding="utf-8") as stream:
        return yaml.safe_load(stream)["releases"]


def test_galaxy_version_is_a_release_with_changes():
    with open(ROOT / "galaxy.yml", encoding="utf-8") as stream:
        version = yaml.safe_load(stream)["version"]
    assert version in releases()
    assert releases()[version]["changes"], version


def test_changelog_rst_holds_every_entry():
    text = " ".join((ROOT / "CHANGELOG.rst").read_text(encoding="utf-8").split())
    for version, release in releases().items():
        assert "v%s" % version in text, version
        for entries in release.get("changes", {}).values():
            for entry in entries if isinstance(entries, list) else []:
                assert " ".join(entry.split()) in text, (version, entry[:80])
