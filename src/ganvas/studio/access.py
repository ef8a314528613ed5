"""Who may open the studio.

It binds to 127.0.0.1, where only this machine's users reach it. Any other host is open to the
network, so it needs ``--auth USER:PASSWORD``; without one a random token is generated and
printed once (user ``ganvas``), never written anywhere.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from ganvas.errors import GanvasError

LOCAL_HOST = "127.0.0.1"
TOKEN_USER = "ganvas"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """Where to listen and the one (user, password) allowed in (None: no login)."""

    host: str
    login: tuple[str, str] | None
    generated: bool = False  # the password is a token made now (to be printed once)

    def notice(self) -> str | None:
        """The line that tells the user the generated token (None when there is none)."""
        if not self.generated or self.login is None:
            return None
        return (f"studio: listening on {self.host}, open to the network: log in as "
                f"{self.login[0]!r} with the token {self.login[1]} (shown only now)")


def parse_auth(text: str) -> tuple[str, str]:
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise GanvasError("--auth: give USER:PASSWORD (both non-empty)")
    return user, password


def decide_access(host: str = LOCAL_HOST, auth: str | None = None) -> Access:
    """127.0.0.1 (or another loopback) needs nothing; any other host a login, generated
    when ``auth`` is not given."""
    if not host or any(c.isspace() for c in host):
        raise GanvasError(f"--host: {host!r} is not a host name or address")
    if auth is not None:
        return Access(host, parse_auth(auth))
    if is_loopback(host):
        return Access(host, None)
    return Access(host, (TOKEN_USER, secrets.token_urlsafe(18)), generated=True)
