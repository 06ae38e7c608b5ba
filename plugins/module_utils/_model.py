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
How the model is written in nginx's words is ``_render``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import parse_address

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
    # nginx's `drain` (>= 1.29.6, sticky upstreams): only clients bound to it by sticky still reach it.
    drain: bool = False
    # `server NAME resolve`: nginx re-resolves the name (nginx >= 1.27.3).
    resolve: bool = False
    where: Optional[str] = field(default=None, compare=False)

    @property
    def host(self) -> str:
        return parse_address(self.address)[0]

    @property
    def port(self) -> int:
        return parse_address(self.address)[1]

    @property
    def usable(self) -> bool:
        """Takes new clients' traffic while every primary is up."""
        return not (self.backup or self.down or self.drain)


@dataclass
class Sticky:
    """`sticky cookie NAME ...` (nginx >= 1.29.6): a client that returns the
    cookie is sent to the server that set it; new clients are balanced."""
    cookie: str
    expires: Optional[str] = None      # nginx time or "max"; None: a session cookie
    path: Optional[str] = None
    httponly: bool = False
    secure: bool = False
    samesite: Optional[str] = None     # strict, lax or none
    where: Optional[str] = field(default=None, compare=False)


@dataclass
class Resolver:
    """The DNS servers nginx asks for an upstream's `resolve` servers
    (load_balancer_resolver): `resolver ADDRESS... [valid=TIME] [ipv6=off]`
    and `resolver_timeout` inside the upstream block."""
    addresses: list = field(default_factory=list)
    valid: Optional[str] = None
    ipv6: bool = True
    timeout: Optional[str] = None
    where: Optional[str] = field(default=None, compare=False)


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
    sticky: Optional[Sticky] = None
    # Its `resolver` (set when a server has `resolve`).
    resolver: Optional[Resolver] = None
    file: Optional[str] = None
    line: Optional[int] = None
    where: Optional[str] = field(default=None, compare=False)

    @property
    def usable_servers(self) -> list:
        return [s for s in self.servers if s.usable]

    @property
    def resolves(self) -> bool:
        """Whether a server of it is re-resolved by DNS (`resolve`)."""
        return any(server.resolve for server in self.servers)


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
    # The server block it is in, as found in a parsed config ("file:line #n"),
    # or the site's name (load_balancer_sites); None: the role's one server block.
    server_block: Optional[str] = field(default=None, compare=False)
    # load_balancer_sites only: what the location does besides proxying, and
    # its own limits. kind: proxy, redirect (redirect_code, redirect_to) or
    # return (return_code, return_body).
    kind: str = "proxy"
    redirect_to: Optional[str] = None
    redirect_code: Optional[int] = None
    return_code: Optional[int] = None
    return_body: Optional[str] = None
    websocket: bool = False
    buffering: Optional[bool] = None
    client_max_body_size: Optional[str] = None
    proxy_read_timeout: Optional[str] = None
    headers: list = field(default_factory=list)   # [name, value] pairs: proxy_set_header
    allow: list = field(default_factory=list)     # networks; others get 403
    rate_limit: Optional["RateLimit"] = None


@dataclass
class RateLimit:
    """Requests per client address (limit_req): `rate` like 5r/s, `burst` extra ones."""
    rate: str = "10r/s"
    burst: int = 0


@dataclass
class RealIp:
    """Who the client is behind a trusted proxy: `networks` trusted, and the
    client's address from `header` or from the PROXY protocol."""
    networks: list = field(default_factory=list)
    header: Optional[str] = "X-Forwarded-For"
    proxy_protocol: bool = False


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
    # load_balancer_sites: the site's name (file, log and zone names), every
    # listen (`listen` is the first), the default server of its listens, the
    # access log's format, the real client address, and its own locations
    # (proxied ones are also in Model.locations).
    name: Optional[str] = None
    listens: list = field(default_factory=list)
    default: bool = False
    log_format: str = "combined"
    real_ip: Optional[RealIp] = None
    locations: list = field(default_factory=list)
    # Where each field came from (role variable names), for messages.
    where: dict = field(default_factory=dict, compare=False)

    @property
    def all_listens(self) -> list:
        return self.listens or [self.listen]

    def verify_url(self) -> str:
        """Where a client on the LB host reaches this server block."""
        host, port = _local_client(self.listen)
        if self.tls is not None and self.tls.on:
            return "https://%s:%d" % (host, self.tls.port)
        return "http://%s:%d" % (host, port)


def _local_client(listen):
    """(host, port) a client on the LB host connects to for `listen`: a
    wildcard (or no address) is reached on loopback."""
    host, port = listen_parts(listen)
    if host in (None, "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "[::]":
        host = "[::1]"
    return host, port


def listen_parts(listen):
    """(address or None, port) of a `listen` value, as written."""
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
    # load_balancer_sites: one Site per server block (`site` is None then).
    sites: list = field(default_factory=list)
    # Where the sites' own keys and certificates are (their file names are the model's).
    tls_dir: Optional[str] = field(default=None, compare=False)
    # "vars" (role input) or "config" (read back from nginx's files).
    origin: str = field(default="vars", compare=False)
    # load_balancer_resolver (also each resolving upstream's `resolver`).
    resolver: Optional[Resolver] = field(default=None, compare=False)
    # The host's nginx version ('1.22.1'; None: unknown), for _features.
    nginx_version: Optional[str] = field(default=None, compare=False)
    # nginx not installed yet: nginx_version is the one its package manager would install.
    nginx_candidate: bool = field(default=False, compare=False)

    def upstream(self, name) -> Optional[Upstream]:
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        return None


def plain_dns_names(names):
    """The exact DNS names among server names (no wildcard, regex or '_')."""
    return [name for name in names if "." in name and not name.startswith(("~", "*", "."))
            and not name.endswith((".", "*")) and not name.startswith("[")
            and not all(part.isdigit() for part in name.split("."))]
