"""Who is on the other end of a request (SPEC §16): lockouts, the API rate and /metrics ask this."""

import ipaddress

from django.conf import settings


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in settings.TRUSTED_PROXIES)


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy.

    Behind a trusted proxy, X-Forwarded-For is read from the right (the hop nearest us) past every
    trusted proxy; the first address left is the client's. Anything further left was written by the
    client itself and could be anything, so it is never used.
    """
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")
    if not _trusted(remote):
        return remote[:64]
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))[:64]
            except ValueError:
                # A hop that is not an address was not written by a proxy we trust: the proxy is the client.
                return remote[:64]
    return remote[:64]


def is_direct_loopback(request) -> bool:
    """A request from this machine that came through no proxy (a proxy on loopback forwards for others)."""
    if request.META.get("HTTP_X_FORWARDED_FOR") or request.META.get("HTTP_FORWARDED"):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
