"""The load_balancer role's nginx.conf, rendered on the controller the way
the role renders it (its defaults, the Debian layout): the host's nginx -t
accepts it as a main file, gixy-ng finds nothing in it together with the
role's upstream.conf, and Debian's stock nginx.conf has the findings of the
issue. Bad variables stop the render with the variable named."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import _subprocess_runner
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate

from helpers.localnet import NGINX, free_port, needs_nginx
from helpers.paths import COLLECTIONS, ROOT

BIN = Path(sys.executable).parent

PLAYBOOK = """
- name: Render the role's nginx.conf and upstream.conf
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    role_dir: "%(role)s"
  tasks:
    - name: Defaults and the Debian layout, as the role loads them
      ansible.builtin.include_vars: "{{ item }}"
      loop: ["{{ role_dir }}/defaults/main.yml", "{{ role_dir }}/vars/Debian.yml"]
    - name: The role's own preflights
      ansible.builtin.include_role:
        name: edgeops.nginx_lb.load_balancer
        tasks_from: "{{ item }}"
      loop: [preflight, nginx_conf_preflight]
      vars:
        ansible_facts: {os_family: Debian}
    - name: Write both files
      ansible.builtin.copy:
        content: "{{ lookup('ansible.builtin.template', role_dir ~ '/templates/' ~ item.src) }}"
        dest: "{{ out }}/{{ item.dest }}"
        mode: "0644"
      loop:
        - {src: nginx.conf.j2, dest: nginx.conf}
        - {src: upstream.conf.j2, dest: conf.d/upstream.conf}
"""


def render(tmp_path, **extra_vars):
    """Render into tmp_path/out; extra vars (they win over role vars) move the layout into tmp_path."""
    out = tmp_path / "out"
    (out / "conf.d").mkdir(parents=True)
    playbook = tmp_path / "render.yml"
    playbook.write_text(PLAYBOOK % {"role": ROOT / "roles" / "load_balancer"})
    layout = {
        "out": str(out),
        "load_balancer_nginx_pid": str(tmp_path / "nginx.pid"),
        "load_balancer_nginx_error_log": str(tmp_path / "error.log"),
        "load_balancer_nginx_access_log": str(tmp_path / "access.log"),
        "load_balancer_access_log": str(tmp_path / "edgeops_lb.access.log"),
        "load_balancer_nginx_main_includes": [],
        "load_balancer_nginx_http_includes": [str(out / "conf.d" / "*.conf")],
        "load_balancer_listen": "127.0.0.1:%d" % free_port(),
    }
    layout.update(extra_vars)
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(layout))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e", "@%s" % varfile],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    return proc, out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("nginx_conf")
    proc, out = render(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def directives(text):
    return [line.strip().rstrip(";") for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_rendered_nginx_conf_carries_the_defaults(rendered):
    text = (rendered / "nginx.conf").read_text()
    assert text.startswith("#") and "Ansible managed" in text[:200]
    lines = directives(text)
    for expected in ("worker_processes auto", "worker_rlimit_nofile 40960", "worker_connections 20480",
                     "worker_shutdown_timeout 30s", "server_tokens off", "ssl_protocols TLSv1.2 TLSv1.3",
                     "ssl_prefer_server_ciphers off", "ssl_session_cache shared:SSL:10m", "ssl_session_timeout 1d",
                     "user www-data", "include /etc/nginx/mime.types"):
        assert expected in lines, expected


def test_the_debian_layout_keeps_modules_enabled_and_conf_d(tmp_path):
    """Without the test's layout overrides: Debian's includes are there."""
    proc, out = render(tmp_path, load_balancer_nginx_main_includes=["/etc/nginx/modules-enabled/*.conf"],
                       load_balancer_nginx_http_includes=["/etc/nginx/conf.d/*.conf", "/etc/nginx/sites-enabled/*"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = directives((out / "nginx.conf").read_text())
    assert "include /etc/nginx/modules-enabled/*.conf" in lines
    assert lines.index("include /etc/nginx/conf.d/*.conf") > lines.index("http {")


@needs_nginx
def test_host_nginx_accepts_it_as_a_main_file(rendered):
    report = validate(NGINX, _subprocess_runner, path=str(rendered / "nginx.conf"),
                      content=(rendered / "nginx.conf").read_text(), kind="main", shown_name="nginx.conf")
    assert report.valid is True, report.errors
    assert "roundrobin" in [u.name for u in report.model.upstreams]


def gixy_findings(path):
    proc = subprocess.run([str(BIN / "gixy"), "-f", "json", str(path)], check=False, capture_output=True, text=True,
                          timeout=120)
    return [(issue["plugin"], issue["severity"]) for issue in json.loads(proc.stdout or "[]")]


@pytest.mark.skipif(not (BIN / "gixy").exists(), reason="gixy-ng is not installed")
def test_gixy_finds_nothing_in_the_whole_rendered_config(rendered):
    found = gixy_findings(rendered / "nginx.conf")
    assert found == [], "gixy-ng findings in the role's nginx.conf + upstream.conf: %s" % found


@pytest.mark.skipif(not (BIN / "gixy").exists(), reason="gixy-ng is not installed")
def test_gixy_finds_the_issues_findings_in_the_old_main_settings(tmp_path, rendered):
    """The same files with Debian's stock main settings put back: gixy sees them (the check can fail)."""
    text = (rendered / "nginx.conf").read_text()
    text = text.replace("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;")
    text = text.replace("ssl_prefer_server_ciphers off;", "ssl_prefer_server_ciphers on;")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("worker_rlimit_nofile"))
    stock = tmp_path / "nginx.conf"
    stock.write_text(text)
    found = gixy_findings(stock)
    assert ("weak_ssl_tls", "HIGH") in found and ("weak_ssl_tls", "LOW") in found
    assert "worker_rlimit_nofile_vs_connections" in [plugin for plugin, dummy in found]


@pytest.mark.parametrize("var, value", [
    ("load_balancer_worker_rlimit_nofile", 1024),
    ("load_balancer_ssl_protocols", ["TLSv1", "TLSv1.2"]),
    ("load_balancer_worker_shutdown_timeout", "30s; user root"),
])
def test_bad_variables_stop_the_render_naming_the_variable(tmp_path, var, value):
    proc, out = render(tmp_path, **{var: value})
    assert proc.returncode != 0
    assert "invalid nginx.conf input" in proc.stdout and var + ":" in proc.stdout
    assert not (out / "nginx.conf").exists()


# ------------------------------------------------------------------ TLS

def make_selfsigned(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=lb.example.test", "-keyout", str(tmp_path / "lb.key"),
                    "-out", str(tmp_path / "lb.crt")], check=True, capture_output=True, timeout=60)
    return {"load_balancer_tls_cert_path": str(tmp_path / "lb.crt"), "load_balancer_tls_key_path": str(tmp_path / "lb.key")}


@pytest.fixture(scope="module")
def rendered_tls(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("nginx_conf_tls")
    proc, out = render(tmp_path, load_balancer_tls={"mode": "selfsigned", "port": free_port(), "hsts": True,
                                                    "domains": ["lb.example.test"]},
                       **make_selfsigned(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def server_blocks(text):
    """The server blocks of a rendered upstream.conf, as lists of directive lines."""
    blocks, current, depth = [], None, 0
    for line in directives(text):
        if line == "server {" and depth == 0:
            current, depth = [], 1
            continue
        if current is not None:
            depth += line.count("{") - line.count("}")
            if depth == 0:
                blocks.append(current)
                current = None
            else:
                current.append(line)
    return blocks


def test_tls_gives_a_redirecting_http_server_and_an_https_one(rendered_tls):
    plain, balancer = server_blocks((rendered_tls / "conf.d" / "upstream.conf").read_text())
    assert "return 301 https://$host:" in " ".join(plain) and "$request_uri" in " ".join(plain)
    assert not any(line.startswith("proxy_pass") for line in plain)
    listens = [line for line in balancer if line.startswith("listen ")]
    # nginx before 1.25.1 (the default when the version is unknown): http2 is a listen parameter.
    assert len(listens) == 1 and listens[0].endswith(" ssl http2")
    assert 'add_header Strict-Transport-Security "max-age=31536000" always' in balancer
    assert "proxy_set_header X-Forwarded-Proto $scheme" in balancer


@needs_nginx
def test_host_nginx_accepts_the_tls_config(rendered_tls):
    report = validate(NGINX, _subprocess_runner, path=str(rendered_tls / "nginx.conf"),
                      content=(rendered_tls / "nginx.conf").read_text(), kind="main", shown_name="nginx.conf")
    assert report.valid is True, report.errors


@pytest.mark.skipif(not (BIN / "gixy").exists(), reason="gixy-ng is not installed")
def test_gixy_finds_nothing_with_tls_on(rendered_tls):
    found = gixy_findings(rendered_tls / "nginx.conf")
    assert found == [], "gixy-ng findings with TLS: %s" % found


def test_nginx_from_1_25_1_gets_http2_on(tmp_path):
    # The version the role read from the host (extra vars win over it here).
    proc, out = render(tmp_path, load_balancer_tls={"mode": "selfsigned", "redirect": False},
                       load_balancer_nginx_version="1.26.3", **make_selfsigned(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (balancer,) = server_blocks((out / "conf.d" / "upstream.conf").read_text())
    assert [line for line in balancer if line.startswith("listen ")][1] == "listen 127.0.0.1:443 ssl"
    assert "http2 on" in balancer
    # No redirect: plain HTTP proxies too.
    assert len([line for line in balancer if line.startswith("listen ")]) == 2


def test_nginx_1_30_gets_its_defaults_and_sticky(tmp_path):
    upstreams = [{"name": "sticky", "sticky": {"cookie": "srv", "expires": "1h", "path": "/", "httponly": True},
                  "keepalive": 0, "servers": [{"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7002"}]}]
    proc, out = render(tmp_path, load_balancer_nginx_version="1.30.6", load_balancer_upstreams=upstreams,
                       load_balancer_locations=[{"path": "/sticky", "upstream": "sticky"}])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = directives((out / "conf.d" / "upstream.conf").read_text())
    assert "sticky cookie srv expires=1h path=/ httponly" in lines
    # 1.29.7's defaults: HTTP/1.1 to the backends and upstream keepalive unless `keepalive 0`.
    assert "keepalive 0" in lines and not [line for line in lines if line.startswith("proxy_http_version")]


def test_sticky_on_nginx_1_22_is_named(tmp_path):
    upstreams = [{"name": "sticky", "sticky": {"cookie": "srv"}, "servers": [{"address": "127.0.0.1:7001"}]}]
    proc, out = render(tmp_path, load_balancer_nginx_version="1.22.1", load_balancer_upstreams=upstreams,
                       load_balancer_locations=[{"path": "/sticky", "upstream": "sticky"}])
    assert proc.returncode != 0
    assert ("load_balancer_upstreams[0].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host has "
            "1.22.1") in proc.stdout
    assert not (out / "conf.d" / "upstream.conf").exists()


@pytest.mark.parametrize("tls, words", [
    ({"mode": "acme-ish"}, "load_balancer_tls.mode: must be one of none, selfsigned, provided"),
    ({"mode": "provided"}, "load_balancer_tls.cert: is required with mode provided"),
])
def test_bad_tls_input_stops_the_render_naming_the_field(tmp_path, tls, words):
    proc, out = render(tmp_path, load_balancer_tls=tls)
    assert proc.returncode != 0 and words in proc.stdout
    assert not (out / "conf.d" / "upstream.conf").exists()


def test_acme_serves_the_challenge_unredirected_and_gixy_finds_nothing(tmp_path):
    proc, out = render(tmp_path, load_balancer_tls={"mode": "acme", "hsts": True, "domains": ["lb.example.test"]},
                       load_balancer_acme_webroot=str(tmp_path / "acme"), **make_selfsigned(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plain, balancer = server_blocks((out / "conf.d" / "upstream.conf").read_text())
    challenge = plain.index("location ^~ /.well-known/acme-challenge/ {")
    assert plain[challenge + 1] == "root %s" % (tmp_path / "acme")
    assert plain.index("return 301 https://$host$request_uri") > challenge
    assert not any("acme-challenge" in line for line in balancer)
    assert gixy_findings(out / "nginx.conf") == []
