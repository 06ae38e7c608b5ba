"""upstream_server's action plugin finds the load_balancer role's template
through Ansible's collection loader (tests/functional runs it over a
collection installed elsewhere)."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.action import upstream_server
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._drain import DrainError


@pytest.mark.parametrize("role", ["edgeops.nginx_lb.no_such_role", "edgeops.no_such_collection.load_balancer"])
def test_a_role_the_loader_does_not_know_is_named(role):
    with pytest.raises(DrainError) as caught:
        upstream_server.role_template("upstream.conf.j2", role=role)
    assert caught.value.errors == ["cannot find the role %s through Ansible's collection loader "
                                   "(is the collection installed?)" % role]


def test_the_loader_answer_gives_the_template_path(monkeypatch):
    asked = []

    def found(role):
        asked.append(role)
        return "load_balancer", "/elsewhere/ansible_collections/edgeops/nginx_lb/roles/load_balancer", "edgeops.nginx_lb"
    monkeypatch.setattr(upstream_server, "_get_collection_role_path", found)
    assert upstream_server.role_template("upstream.conf.j2") == \
        "/elsewhere/ansible_collections/edgeops/nginx_lb/roles/load_balancer/templates/upstream.conf.j2"
    assert asked == ["edgeops.nginx_lb.load_balancer"]
