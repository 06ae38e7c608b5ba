"""The model's data classes: derived values and the plain data the template reads."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Site
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars

from helpers.paths import default_site_vars, tutorial_vars


@pytest.mark.parametrize("listen, url", [
    ("80", "http://127.0.0.1:80"),
    ("8080", "http://127.0.0.1:8080"),
    ("10.0.0.5:8080", "http://10.0.0.5:8080"),
    ("0.0.0.0:81", "http://127.0.0.1:81"),
    ("[::1]:8080", "http://[::1]:8080"),
    ("[::]:80", "http://[::1]:80"),
])
def test_verify_url_for_each_listen_form(listen, url):
    assert Site(listen=listen).verify_url() == url


def test_the_template_gets_every_argument_in_nginx_words():
    site = dict(default_site_vars(), load_balancer_proxy_set_headers={"X-A": 'say "hi"; {ok}'},
                load_balancer_server_name="example.com ~^(?<sub>.+)\\.example\\.org$",
                load_balancer_extra_directives=["add_header X-B 'c d' always"])
    data = model_to_dict(model_from_vars(*tutorial_vars(), site_vars=site))
    assert data["site"]["proxy_set_headers"] == [["X-A", '"say \\"hi\\"; {ok}"']]
    assert data["site"]["server_name"] == 'example.com "~^(?<sub>.+)\\\\.example\\\\.org$"'
    assert data["site"]["extra_directives"] == ['add_header X-B "c d" always']
    assert data["site"]["verify_url"] == "http://127.0.0.1:80"
    assert data["upstreams"][4]["servers"][0]["directive_args"] == ["127.0.0.1:7001", "weight=2"]
