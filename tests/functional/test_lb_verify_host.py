"""lb_verify's `host` against a private loopback nginx with two server
blocks on one port, one per server_name, each balancing over its own two
backends: over http the Host header picks the block, over https the SNI name
picks the certificate (each made here, signed by a private CA) and the block,
and the certificate is checked against that name. Loopback only; the nginx
started here is stopped by its PID; every poll is bounded in count and time."""

import subprocess

import pytest

from helpers.localnet import free_port, needs_nginx
from helpers.nginx_proc import running_nginx
from helpers.processes import run_module

pytestmark = needs_nginx

NAMES = ("shop.test", "blog.test")


def make_ca_and_certs(tmp, names):
    """ca.crt, and NAME.crt / NAME.key for each name, signed by the CA."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=tmp, check=True, capture_output=True, timeout=60)
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", *curve, "-days", "2", "-subj", "/CN=host test CA", "-keyout", "ca.key", "-out", "ca.crt")
    for name in names:
        run("req", *curve, "-subj", "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".csr")
        (tmp / (name + ".ext")).write_text("subjectAltName=DNS:%s\n" % name)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt")


def site(name, listen, tls_dir, backends, default=False):
    """Two server blocks of `name` (plain and TLS), proxying / to its own upstream."""
    upstream = name.split(".")[0]
    tls = "ssl_certificate {d}/{n}.crt; ssl_certificate_key {d}/{n}.key;".format(d=tls_dir, n=name)
    location = "location / {{ proxy_pass http://{u}; }}".format(u=upstream)
    flag = " default_server" if default else ""
    return ("upstream {u} {{ zone {u} 64k; {servers} }}\n"
            "server {{ listen 127.0.0.1:{http}{flag}; server_name {n}; {loc} }}\n"
            "server {{ listen 127.0.0.1:{https} ssl{flag}; server_name {n}; {tls} {loc} }}\n").format(
        u=upstream, servers=" ".join("server %s;" % b for b in backends), http=listen[0], https=listen[1],
        flag=flag, n=name, loc=location, tls=tls)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("host_lb")
    make_ca_and_certs(tmp, NAMES)
    listen = (free_port(), free_port())
    backends = {name: ["127.0.0.1:%d" % free_port() for dummy in range(2)] for name in NAMES}
    answering = "".join("server { listen %s; location / { add_header X-Backend %s; return 200 ok; } }\n" % (b, b)
                        for name in NAMES for b in backends[name])
    blocks = "".join(site(name, listen, tmp, backends[name], default=index == 0) for index, name in enumerate(NAMES))
    conf = tmp / "nginx.conf"
    conf.write_text("pid {t}/nginx.pid;\nerror_log {t}/error.log;\nevents {{ worker_connections 256; }}\n"
                    "http {{\n access_log off;\n{blocks}{answering}}}\n".format(t=tmp, blocks=blocks,
                                                                                answering=answering))
    with running_nginx(conf, tmp, listen):
        yield {"http": listen[0], "https": listen[1], "ca": str(tmp / "ca.crt"), "backends": backends}


def verify(sites, scheme, **extra):
    port = sites["http"] if scheme == "http" else sites["https"]
    args = {"url": "%s://127.0.0.1:%d" % (scheme, port), "requests": 20, "timeout": 2, "deadline": 20,
            "ca_file": sites["ca"], "fail_on_mismatch": False, "locations": [{"path": "/", "upstream": "x",
                                                                              "servers": extra.pop("servers")}]}
    args.update(extra)
    return run_module("lb_verify", args, timeout=60)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_port", [False, True])
def test_host_picks_the_server_block_and_its_backends(sites, scheme, name, with_port):
    port = sites[scheme]
    host = "%s:%d" % (name, port) if with_port else name
    result = verify(sites, scheme, host=host, servers=sites["backends"][name])
    assert result.get("failed") is not True, result.get("msg")
    found, = result["locations"]
    assert found["passed"] and found["counts"] == {b: 10 for b in sites["backends"][name]}, found


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_without_host_the_default_block_answers_as_before(sites, scheme):
    """No host: the Host header is the URL's, no SNI for an IP, so the default
    block (shop.test) answers; over https its certificate does not name
    127.0.0.1 and is refused, as before."""
    shop = sites["backends"]["shop.test"]
    result = verify(sites, scheme, servers=shop)
    found, = result["locations"]
    if scheme == "http":
        assert found["passed"] and found["counts"] == {b: 10 for b in shop}, found
    else:
        assert found["counts"] == {} and list(found["errors"]) == ["connection: SSLCertVerificationError"], found


def test_a_name_the_certificate_does_not_have_fails_verification(sites):
    """SNI wrong.test: nginx answers with the default block's certificate
    (shop.test), which does not name wrong.test; with validate_certs false
    the request goes through to the default block."""
    shop = sites["backends"]["shop.test"]
    refused = verify(sites, "https", host="wrong.test", servers=shop)
    found, = refused["locations"]
    assert found["counts"] == {} and list(found["errors"]) == ["connection: SSLCertVerificationError"], found
    unchecked = verify(sites, "https", host="wrong.test", servers=shop, validate_certs=False)
    assert unchecked["locations"][0]["counts"] == {b: 10 for b in shop}, unchecked["locations"]


@pytest.mark.parametrize("host", ["shop.test\r\nX-Evil: 1", "-shop.test", "shop.test:0", "[::1]", "shop test"])
def test_a_bad_host_is_named_before_any_request(sites, host):
    result = verify(sites, "http", host=host, servers=sites["backends"]["shop.test"])
    assert result["failed"] is True and result["msg"].startswith("host: must be a DNS name"), result
    assert "locations" not in result
