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

import ipaddress
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
    # load_balancer_sites: one Site per server block (`site` is None then).
    sites: list = field(default_factory=list)
    # Where the sites' own keys and certificates are (their file names are the model's).
    tls_dir: Optional[str] = field(default=None, compare=False)
    # "vars" (role input) or "config" (read back from nginx's files).
    origin: str = field(default="vars", compare=False)

    def upstream(self, name) -> Optional[Upstream]:
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        return None


# The access log formats a site may name (log_format), and their nginx names.
LOG_FORMATS = {"combined": "edgeops_lb", "json": "edgeops_lb_json"}
# limit_req zones: 64 bytes a client address, so 4m keeps about 65,000 clients.
RATE_LIMIT_ZONE_SIZE = "4m"
# The default server for names no site has: a closed connection over http,
# 421 Misdirected Request over TLS (with a certificate of its own).
CATCH_ALL_PLAIN = "444"
CATCH_ALL_TLS = "421"


def plain_dns_names(names):
    """The exact DNS names among server names (no wildcard, regex or '_')."""
    return [name for name in names if "." in name and not name.startswith(("~", "*", "."))
            and not name.endswith((".", "*")) and not name.startswith("[")
            and not all(part.isdigit() for part in name.split("."))]


def rate_limit_zone(site, index):
    """The limit_req zone of a site's location: named by the model, never by input."""
    return "edgeops_rl_%s_%d" % (site.name, index)


def _site_to_dict(site, tls_dir=None):
    """The server block's directives, every argument already in nginx's words
    (quoted where needed), so the template only joins them."""
    access_log = [site.access_log, LOG_FORMATS.get(site.log_format, "edgeops_lb")]
    if site.access_log == "off":
        access_log = ["off"]
    elif site.access_log_buffer:
        access_log += ["buffer=" + site.access_log_buffer, "flush=1s"]
    extra = " proxy_protocol" if site.real_ip is not None and site.real_ip.proxy_protocol else ""
    default = " default_server" if site.default else ""
    words = {
        "name": site.name,
        "listen": site.listen,
        "listens": [listen + default + extra for listen in site.all_listens],
        "server_name": " ".join(quote(name) for name in site.server_names),
        "server_tokens": "on" if site.server_tokens else "off",
        "access_log": " ".join(access_log),
        "proxy_set_headers": [[name, quote(value)] for name, value in site.proxy_set_headers],
        "proxy_connect_timeout": site.proxy_connect_timeout,
        "proxy_read_timeout": site.proxy_read_timeout,
        "proxy_next_upstream": " ".join(site.proxy_next_upstream),
        "expose_upstream_addr": site.expose_upstream_addr,
        "extra_directives": [" ".join([d[0]] + [quote(arg) for arg in d[1:]]) for d in site.extra_directives],
        "real_ip": _real_ip_words(site.real_ip),
        "verify_url": site.verify_url(),
        "verify_host": (plain_dns_names(site.server_names) or [None])[0] if site.name else None,
        "tls": _tls_words(site, default + extra, tls_dir),
    }
    if site.name is not None:
        words["locations"] = [_location_words(site, index, location) for index, location in enumerate(site.locations)]
        words["has_root"] = any(location.path == "/" for location in site.locations)
        # A client on the LB host speaks no PROXY protocol: such a site is verified by its clients.
        words["verify_locations"] = [] if words["real_ip"] and words["real_ip"]["header"] == "proxy_protocol" else [
            {"path": location.path, "upstream": location.upstream} for location in site.locations
            if _verifiable(location)]
    return words


def _verifiable(location):
    """lb_verify counts a proxied location only where its many requests from
    the LB host are plain requests that may all pass (no limit, no upgrade,
    loopback allowed)."""
    return (location.kind == "proxy" and not location.websocket and location.rate_limit is None
            and (not location.allow or any(_network_has_loopback(network) for network in location.allow)))


def _network_has_loopback(network):
    try:
        return ipaddress.ip_network(network, strict=False).overlaps(ipaddress.ip_network("127.0.0.0/8"))
    except ValueError:
        return False


def _real_ip_words(real_ip):
    if real_ip is None:
        return None
    return {"from": list(real_ip.networks),
            "header": "proxy_protocol" if real_ip.proxy_protocol else real_ip.header}


def _location_words(site, index, location):
    """A location's own words: its directives (in both blocks of a stripped
    prefix), its proxy headers when it sets any (nginx then drops every
    proxy_set_header of the server block: they are repeated here)."""
    directives = []
    if location.buffering is not None:
        directives.append("proxy_buffering " + ("on" if location.buffering else "off"))
    if location.client_max_body_size is not None:
        directives.append("client_max_body_size " + location.client_max_body_size)
    if location.proxy_read_timeout is not None:
        directives.append("proxy_read_timeout " + location.proxy_read_timeout)
    if location.allow:
        directives.extend("allow " + network for network in location.allow)
        directives.append("deny all")
    if location.rate_limit is not None:
        burst = " burst=%d" % location.rate_limit.burst if location.rate_limit.burst else ""
        directives.append("limit_req zone=%s%s nodelay" % (rate_limit_zone(site, index), burst))
        directives.append("limit_req_status 429")
    headers = None
    if location.websocket or location.headers:
        own = dict((name.lower(), [name, value]) for name, value in location.headers)
        headers = [["Connection", "$edgeops_connection_upgrade" if location.websocket else ""]]
        if location.websocket:
            headers.append(["Upgrade", "$http_upgrade"])
        headers += [own.pop(name.lower(), [name, value]) for name, value in site.proxy_set_headers]
        headers = [[name, quote(value)] for name, value in headers + list(own.values())]
    words = {"path": location.path, "kind": location.kind, "strip_prefix": location.strip_prefix,
             "upstream": location.upstream, "directives": directives, "proxy_set_headers": headers,
             "websocket": location.websocket}
    if location.kind == "redirect":
        words["return"] = "%d %s" % (location.redirect_code, quote(location.redirect_to))
    elif location.kind == "return":
        words["return"] = "%d%s" % (location.return_code, (" " + quote(location.return_body))
                                    if location.return_body is not None else "")
    return words


def _tls_words(site, listen_extra="", tls_dir=None):
    """TLS words of the template (None when off): the listens of the https
    server on the plain listens' addresses, the redirect target, HSTS, and
    (load_balancer_sites) the site's own key and certificate files."""
    tls = site.tls
    if tls is None or not tls.on:
        return None
    listens = []
    for listen in site.all_listens:
        host, dummy = _listen_parts(listen)
        listens.append(("%s:%d" % (host, tls.port) if host else str(tls.port)) + listen_extra)
    return {
        "mode": tls.mode,
        "port": tls.port,
        "listen": listens[0],
        "listens": listens,
        "redirect": tls.redirect,
        "http2": tls.http2,
        "hsts": "max-age=31536000" if tls.hsts else None,
        # The self-signed certificate's names: the domains, else the server names that are plain DNS names.
        "domains": list(tls.domains) or plain_dns_names(site.server_names),
        "redirect_target": "https://$host$request_uri" if tls.port == 443
        else "https://$host:%d$request_uri" % tls.port,
        # HTTP-01 challenges are served from the plain HTTP server, never redirected.
        "acme": tls.mode == "acme",
        "acme_directory": tls.acme_directory,
        "acme_email": tls.acme_email,
        "acme_ca_file": tls.acme_ca_file,
        "renew_days": tls.renew_days,
        # Each site its own pair (chosen by SNI); None: the role's one pair.
        **_pair_paths(tls_dir if site.name else None, "site_%s" % site.name),
        "cert": tls.cert,
        "key": tls.key,
    }


def _pair_paths(tls_dir, stem):
    """The key and certificate files of `stem` in `tls_dir` (None without one)."""
    return {"cert_path": "%s/%s.crt" % (tls_dir, stem) if tls_dir else None,
            "key_path": "%s/%s.key" % (tls_dir, stem) if tls_dir else None}


def _listen_key(listen):
    """(host or None for a wildcard, port) of a listen."""
    host, port = _listen_parts(listen)
    return (None if host in (None, "0.0.0.0", "*") else host), port


def _acme_certificates(model, tls_dir):
    """The certificates to order from ACME servers, each with the file stem of
    its key, chain and CA; the single-site one keeps the role's paths (None)."""
    certificates = []
    for site in ([model.site] if model.site is not None else model.sites):
        if site.tls is None or site.tls.mode != "acme":
            continue
        words = _tls_words(site, tls_dir=tls_dir)
        certificates.append({
            "name": site.name or "", "stem": "acme_site_%s" % site.name if site.name else "acme",
            "domains": words["domains"], "cert_path": words["cert_path"], "key_path": words["key_path"],
            "acme_directory": site.tls.acme_directory, "acme_email": site.tls.acme_email,
            "acme_ca_file": site.tls.acme_ca_file, "renew_days": site.tls.renew_days})
    return certificates


def _http_words(model, tls_dir=None):
    """What the http context needs once for all sites: the JSON log format,
    the Upgrade map, the limit_req zones, and the catch-all default server on
    every listen that no site is the default of."""
    sites = model.sites
    words = {
        "json_log": any(site.log_format == "json" for site in sites),
        "websocket_map": any(location.websocket for site in sites for location in site.locations),
        "limit_req_zones": ["$binary_remote_addr zone=%s:%s rate=%s" % (rate_limit_zone(site, index),
                                                                        RATE_LIMIT_ZONE_SIZE, location.rate_limit.rate)
                            for site in sites for index, location in enumerate(site.locations)
                            if location.rate_limit is not None],
        "catch_all": None,
        "tls_pairs": [],
        "acme_certificates": _acme_certificates(model, tls_dir),
    }
    if not sites:
        return words
    plain, secure, http2, pairs = {}, {}, False, []
    for site in sites:
        extra = " proxy_protocol" if site.real_ip is not None and site.real_ip.proxy_protocol else ""
        # Plain http on every listen: the site itself, or its redirect to https.
        for listen in site.all_listens:
            plain.setdefault(_listen_key(listen), [listen + extra, False])[1] |= site.default
        tls = _tls_words(site, extra, tls_dir)
        if tls is None:
            continue
        for listen in tls["listens"]:
            secure.setdefault(_listen_key(listen.split()[0]), [listen, False])[1] |= site.default
        http2 = http2 or tls["http2"]
        # The self-signed pairs to generate: each selfsigned site's, and each
        # acme site's placeholder until its first issuance.
        if tls["mode"] in ("selfsigned", "acme"):
            pairs.append({"name": site.name, "names": tls["domains"] or ["localhost"], "cert_path": tls["cert_path"],
                          "key_path": tls["key_path"]})
    catch_all_pair = _pair_paths(tls_dir, "catch_all")
    if any(not taken for dummy, taken in secure.values()):
        pairs.append(dict(catch_all_pair, name="catch_all", names=["invalid"]))
    words["tls_pairs"] = pairs
    words["catch_all"] = {
        "listens": [listen + " default_server" for listen, taken in plain.values() if not taken],
        "tls_listens": [listen + " default_server" for listen, taken in secure.values() if not taken],
        "http2": http2,
        "cert_path": catch_all_pair["cert_path"],
        "key_path": catch_all_pair["key_path"],
        "plain_status": CATCH_ALL_PLAIN,
        "tls_status": CATCH_ALL_TLS,
    }
    return words


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
    """Plain data for templates and module results (no derived fields lost).

    Built from variables, ``sites`` lists every server block's words (the
    one of the single-site variables, or each of load_balancer_sites) and
    ``http`` what the http context needs once."""
    tls_dir = model.tls_dir
    data = asdict(model)
    data.pop("origin")
    data.pop("tls_dir")
    for upstream_data, upstream in zip(data["upstreams"], model.upstreams):
        _upstream_to_dict(upstream_data, upstream)
    for stream_data, stream in zip(data["streams"], model.streams):
        _stream_to_dict(stream_data, stream)
    for location_data in data["locations"]:
        location_data.pop("where")
        location_data.pop("server_block")
    if model.origin == "vars":
        if model.site is not None:
            data["site"] = _site_to_dict(model.site)
            site_words = dict(data["site"], locations=[_location_words(model.site, index, location) for index, location
                                                       in enumerate(model.locations)])
            site_words["has_root"] = any(location.path == "/" for location in model.locations)
            data["sites"] = [site_words]
        else:
            data["sites"] = [_site_to_dict(site, tls_dir) for site in model.sites]
        data["http"] = _http_words(model, tls_dir)
    elif data["site"] is not None:
        data["site"].pop("where")
    if model.origin != "vars":
        data.pop("sites")
    return data
