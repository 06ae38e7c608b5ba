# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one model of "upstreams and locations": data classes only.

Built from role variables (``_model_vars.model_from_vars``) or read back from
a parsed nginx config (``_model_config.model_from_config``), judged by one
``_check.check``. The template, ``nginx_validate``, ``lb_verify`` and the
tests all speak this model, so there is one meaning of "upstream".

``where`` names the origin of each object in the words a user knows: a role
variable path (``load_balancer_upstreams[1]``) or an nginx file and line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import parse_address, quote

METHODS = ("round_robin", "least_conn", "ip_hash", "hash", "random")
# nginx refuses `backup` with these (when the method line comes first).
METHODS_WITHOUT_BACKUP = ("ip_hash", "hash", "random")
# nginx's stream module has no ip_hash (`hash $remote_addr` is its equivalent).
STREAM_METHODS = ("round_robin", "least_conn", "hash", "random")
STREAM_PROTOCOLS = ("tcp", "udp")


class ModelError(ValueError):
    """Invalid input; ``errors`` lists every problem as 'field: message'."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass
class Server:
    address: str
    weight: int = 1
    max_fails: Optional[int] = None
    fail_timeout: Optional[str] = None
    max_conns: Optional[int] = None
    backup: bool = False
    down: bool = False
    where: Optional[str] = field(default=None, compare=False)

    @property
    def host(self) -> str:
        return parse_address(self.address)[0]

    @property
    def port(self) -> int:
        return parse_address(self.address)[1]

    @property
    def usable(self) -> bool:
        """Takes traffic while every primary is up."""
        return not (self.backup or self.down)

    def directive_args(self) -> list:
        """Arguments of the nginx `server` directive, in nginx's words."""
        args = [self.address]
        if self.weight != 1:
            args.append("weight=%d" % self.weight)
        if self.max_fails is not None:
            args.append("max_fails=%d" % self.max_fails)
        if self.fail_timeout is not None:
            args.append("fail_timeout=%s" % self.fail_timeout)
        if self.max_conns is not None:
            args.append("max_conns=%d" % self.max_conns)
        if self.backup:
            args.append("backup")
        if self.down:
            args.append("down")
        return args


@dataclass
class Upstream:
    name: str
    servers: list = field(default_factory=list)
    method: str = "round_robin"
    hash_key: Optional[str] = None
    consistent: bool = False
    two: bool = False
    keepalive: Optional[int] = None
    zone: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    where: Optional[str] = field(default=None, compare=False)

    @property
    def usable_servers(self) -> list:
        return [s for s in self.servers if s.usable]

    def method_args(self) -> Optional[list]:
        """The balancing directive (name first), None for round robin."""
        if self.method == "round_robin":
            return None
        if self.method == "hash":
            return ["hash", self.hash_key] + (["consistent"] if self.consistent else [])
        if self.method == "random":
            return ["random"] + (["two"] if self.two else [])
        return [self.method]


@dataclass
class Location:
    path: str
    upstream: str
    # True: `/path` and `/path/x` reach the backend as `/` and `/x`.
    strip_prefix: bool = True
    # As found in a parsed config (None when built from variables).
    modifier: Optional[str] = None
    proxy_uri: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    where: Optional[str] = field(default=None, compare=False)
    # The server block it is in, as found in a parsed config ("file:line #n");
    # None: the role's one server block.
    server_block: Optional[str] = field(default=None, compare=False)


@dataclass
class Tls:
    """TLS termination of the server block (load_balancer_tls); see _tls."""
    mode: str = "none"
    port: int = 443
    redirect: bool = True
    http2: bool = True
    hsts: bool = False
    cert: Optional[str] = None      # provided: files on the controller
    key: Optional[str] = None
    domains: list = field(default_factory=list)
    # acme: the CA's directory, the account's contact, a CA file (on the
    # controller) for a private ACME server, renewal below this many days.
    acme_directory: str = "https://acme-v02.api.letsencrypt.org/directory"
    acme_email: str = ""
    acme_ca_file: str = ""
    renew_days: int = 30
    where: Optional[str] = field(default=None, compare=False)

    @property
    def on(self) -> bool:
        return self.mode != "none"


@dataclass
class Site:
    """The server block around the locations."""
    listen: str = "80"
    server_names: list = field(default_factory=lambda: ["_"])
    server_tokens: bool = False
    access_log: str = "/var/log/nginx/edgeops_lb.access.log"
    access_log_buffer: Optional[str] = None
    proxy_set_headers: list = field(default_factory=list)   # [name, value] pairs, in order
    proxy_connect_timeout: str = "60s"
    proxy_read_timeout: str = "60s"
    proxy_next_upstream: list = field(default_factory=lambda: ["error", "timeout"])
    expose_upstream_addr: bool = False
    extra_directives: list = field(default_factory=list)    # [name, arg, ...] each
    tls: Optional[Tls] = None
    # Where each field came from (role variable names), for messages.
    where: dict = field(default_factory=dict, compare=False)

    def verify_url(self) -> str:
        """Where a client on the LB host reaches this server block."""
        host, port = _local_client(self.listen)
        if self.tls is not None and self.tls.on:
            return "https://%s:%d" % (host, self.tls.port)
        return "http://%s:%d" % (host, port)


def _local_client(listen):
    """(host, port) a client on the LB host connects to for `listen`: a
    wildcard (or no address) is reached on loopback."""
    host, port = _listen_parts(listen)
    if host in (None, "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    return host, port


def _listen_parts(listen):
    if ":" not in listen:
        return None, int(listen)
    host, dummy, port = listen.rpartition(":")
    return host, int(port)


@dataclass
class Stream:
    """A TCP or UDP service balanced by nginx's stream module: a `server`
    block listening on `listen` that proxies to its own upstream (the same
    Upstream and Server as HTTP, so the same check)."""
    name: str
    listen: str
    protocol: str = "tcp"
    upstream: Optional[Upstream] = None
    proxy_timeout: str = "10m"
    proxy_connect_timeout: str = "2s"
    proxy_protocol: bool = False
    access_log: str = "/var/log/nginx/edgeops_stream.access.log"
    file: Optional[str] = None
    line: Optional[int] = None
    where: Optional[str] = field(default=None, compare=False)

    def verify_address(self) -> str:
        """Where a client on the LB host reaches this stream."""
        return "%s:%d" % _local_client(self.listen)


@dataclass
class Model:
    upstreams: list = field(default_factory=list)
    locations: list = field(default_factory=list)
    site: Optional[Site] = None
    streams: list = field(default_factory=list)
    # "vars" (role input) or "config" (read back from nginx's files).
    origin: str = field(default="vars", compare=False)

    def upstream(self, name) -> Optional[Upstream]:
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        return None


def _site_to_dict(site):
    """The server block's directives, every argument already in nginx's words
    (quoted where needed), so the template only joins them."""
    access_log = [site.access_log, "edgeops_lb"]
    if site.access_log == "off":
        access_log = ["off"]
    elif site.access_log_buffer:
        access_log += ["buffer=" + site.access_log_buffer, "flush=1s"]
    return {
        "listen": site.listen,
        "server_name": " ".join(quote(name) for name in site.server_names),
        "server_tokens": "on" if site.server_tokens else "off",
        "access_log": " ".join(access_log),
        "proxy_set_headers": [[name, quote(value)] for name, value in site.proxy_set_headers],
        "proxy_connect_timeout": site.proxy_connect_timeout,
        "proxy_read_timeout": site.proxy_read_timeout,
        "proxy_next_upstream": " ".join(site.proxy_next_upstream),
        "expose_upstream_addr": site.expose_upstream_addr,
        "extra_directives": [" ".join([d[0]] + [quote(arg) for arg in d[1:]]) for d in site.extra_directives],
        "verify_url": site.verify_url(),
        "tls": _tls_words(site),
    }


def _tls_words(site):
    """TLS words of the template (None when off): the listen of the https
    server on the plain listen's address, the redirect target, HSTS."""
    tls = site.tls
    if tls is None or not tls.on:
        return None
    host, dummy = _listen_parts(site.listen)
    return {
        "mode": tls.mode,
        "port": tls.port,
        "listen": "%s:%d" % (host, tls.port) if host else str(tls.port),
        "redirect": tls.redirect,
        "http2": tls.http2,
        "hsts": "max-age=31536000" if tls.hsts else None,
        # The self-signed certificate's names: the domains, else the server names that are plain DNS names.
        "domains": list(tls.domains) or [name for name in site.server_names
                                         if "." in name and not name.startswith(("~", "*", "."))
                                         and not name.endswith((".", "*"))],
        "redirect_target": "https://$host$request_uri" if tls.port == 443
        else "https://$host:%d$request_uri" % tls.port,
        # HTTP-01 challenges are served from the plain HTTP server, never redirected.
        "acme": tls.mode == "acme",
        "acme_directory": tls.acme_directory,
        "acme_email": tls.acme_email,
        "acme_ca_file": tls.acme_ca_file,
        "renew_days": tls.renew_days,
    }


def _upstream_to_dict(upstream_data, upstream):
    upstream_data.pop("where")
    upstream_data["method_args"] = upstream.method_args()
    for server_data, server in zip(upstream_data["servers"], upstream.servers):
        server_data.pop("where")
        try:
            server_data["host"], server_data["port"] = parse_address(server.address)
        except ValueError:  # a hand-written config's unix: socket or bare name
            server_data["host"], server_data["port"] = None, None
        server_data["directive_args"] = server.directive_args()


def _stream_to_dict(stream_data, stream):
    """A stream's words for the template: the listen line (`udp` added) and
    UDP's one answer per datagram."""
    stream_data.pop("where")
    if stream.upstream is not None:
        _upstream_to_dict(stream_data["upstream"], stream.upstream)
    stream_data["listen_args"] = stream.listen + (" udp" if stream.protocol == "udp" else "")
    stream_data["proxy_responses"] = 1 if stream.protocol == "udp" else None
    stream_data["verify_address"] = stream.verify_address()
    stream_data["access_log_args"] = "off" if stream.access_log == "off" else stream.access_log + " edgeops_stream"


def model_to_dict(model):
    """Plain data for templates and module results (no derived fields lost)."""
    data = asdict(model)
    data.pop("origin")
    for upstream_data, upstream in zip(data["upstreams"], model.upstreams):
        _upstream_to_dict(upstream_data, upstream)
    for stream_data, stream in zip(data["streams"], model.streams):
        _stream_to_dict(stream_data, stream)
    for location_data in data["locations"]:
        location_data.pop("where")
        location_data.pop("server_block")
    if model.site is not None and model.origin == "vars":
        data["site"] = _site_to_dict(model.site)
    elif data["site"] is not None:
        data["site"].pop("where")
    return data
