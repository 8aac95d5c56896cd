"""Test identities: an IdentityProvider mapping tokens to users and a recording Authorizer.

Tokens are ``token-<username>``; any other token is anonymous (403 from Jupyter).
The authorizer denies everything to the user ``denied`` and records what was checked.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User

USERS = ("alice", "bob", "carol", "dave", "erin", "denied", "root")
DISPLAY = {u: u.capitalize() + " Example" for u in USERS}
CHECKS: list[tuple[str, str, str]] = []


def token(username: str) -> str:
    return f"token-{username}"


def auth(username: str | None) -> dict[str, str]:
    """Request headers authenticating as ``username`` (None: no credentials)."""
    return {} if username is None else {"Authorization": f"token {token(username)}"}


class TokenUsers(IdentityProvider):
    """``Authorization: token token-<user>`` (or ``?token=``) identifies ``<user>``."""

    async def get_user_token(self, handler: Any) -> User | None:  # type: ignore[override]
        value = self.get_token(handler) or ""
        name = value.removeprefix("token-")
        if value.startswith("token-") and name in USERS:
            return User(username=name, name=name, display_name=DISPLAY[name])
        return None


class RecordingAuthorizer(Authorizer):
    """Records every check; denies all actions to the user ``denied``."""

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        CHECKS.append((user.username, action, resource))
        return user.username != "denied"
