"""Redirect targets: an absolute http(s) URL to a named host, normalised, or refused.

A redirect sends every visitor of the customer's host to the target, so the target must never
be something a browser would run or read locally, nor something that smuggles a second meaning
past the web server that emits the `Location` header. Refused:

* any scheme but `http` / `https` (so no `javascript:`, `data:`, `file:`, `vbscript:` ...), and
  URLs without `//` right after the scheme (`http:example.org`, `http:/x`);
* control characters, spaces and invisible (format) characters anywhere, and backslashes
  (browsers read `\\` as `/`, so `https:\\\\evil.example` would go somewhere else than it looks);
* user information (`https://bank.example@evil.example/`) and IP literals: the host must be a
  valid domain name (checked like any host name here, IDNA included);
* more than 2,048 characters.

The result is rebuilt from its parts (lower-case scheme, host in its ASCII form, non-ASCII in
path, query and fragment percent-encoded), so what is stored is what was checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

from services.domains.domain.errors import InvalidName
from services.domains.domain.names import HostName, has_forbidden_characters, parse_host

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
# Characters left as they are when percent-encoding (RFC 3986 reserved and unreserved, and "%").
_SAFE = "/?#[]@!$&'()*+,;=-._~:%"


@dataclass(frozen=True, slots=True)
class TargetUrl:
    url: str
    host: HostName
    path: str


@lru_cache(maxsize=16384)
def parse_target_url(raw: str) -> TargetUrl:
    """The normalised target, or `InvalidName` (answers remembered as in `parse_host`)."""
    if not raw:
        raise InvalidName("the target URL is empty")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidName(f"the target URL is longer than {MAX_URL_LENGTH} characters")
    if has_forbidden_characters(raw) or any(c.isspace() for c in raw):
        raise InvalidName("the target URL contains spaces, control or invisible characters")
    if "\\" in raw:
        raise InvalidName("the target URL contains a backslash")
    scheme, colon, rest = raw.partition(":")
    if not colon or scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidName("the target URL must start with http:// or https://")
    if not rest.startswith("//"):
        raise InvalidName("the target URL must start with http:// or https://")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise InvalidName("the target URL is malformed (host or port)") from None
    if port == 0:
        raise InvalidName("the target URL has port 0")
    if "@" in parts.netloc:
        raise InvalidName("the target URL must not contain user information (user@host)")
    netloc_host = parts.netloc.rsplit(":", 1)[0] if port is not None or parts.netloc.endswith(":") else parts.netloc
    if not netloc_host or netloc_host.startswith("["):
        raise InvalidName("the target URL needs a host name (IP addresses are not allowed)")
    host = parse_host(netloc_host, what="target host")
    netloc = host.ascii if port is None else f"{host.ascii}:{port}"
    path = quote(parts.path, safe=_SAFE) or "/"
    url = f"{scheme.lower()}://{netloc}{path}"
    if parts.query:
        url += "?" + quote(parts.query, safe=_SAFE)
    if parts.fragment:
        url += "#" + quote(parts.fragment, safe=_SAFE)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidName(f"the target URL is longer than {MAX_URL_LENGTH} characters once encoded")
    return TargetUrl(url, host, path)
