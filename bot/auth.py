"""API keys and tenants: `BALLAST_API_KEYS=tenant:key,...` parsed once, bearer keys checked in constant time.

Keys are never logged or echoed; a configuration error names the entry's position, not its key.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from pydantic import SecretStr

DEFAULT_TENANT = "default"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyConfigError(ValueError):
    """BALLAST_API_KEYS cannot be read; the message says which entry and why (never the key)."""


@dataclass(frozen=True)
class KeyRing:
    """The configured (tenant, key) pairs; empty means one tenant, `default`, and no authentication."""

    entries: tuple[tuple[str, bytes], ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    @property
    def tenants(self) -> list[str]:
        return sorted({tenant for tenant, _ in self.entries})

    def tenant_for(self, presented: str) -> str | None:
        """The tenant owning `presented`, or None. Every key is compared, so timing does not say which matched."""
        given = presented.encode("utf-8")
        found: str | None = None
        for tenant, key in self.entries:
            if hmac.compare_digest(given, key) and found is None:
                found = tenant
        return found

    def tenant_for_header(self, authorization: str | None) -> str | None:
        """The tenant of an `Authorization: Bearer KEY` header; the default tenant when auth is off."""
        if not self.enabled:
            return DEFAULT_TENANT
        if not authorization:
            return None
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return None
        return self.tenant_for(credentials.strip())


def parse_api_keys(raw: SecretStr | str | None) -> KeyRing:
    """`tenant:key,tenant:key`; whitespace around entries is ignored; a key may contain ':'."""
    text = raw.get_secret_value() if isinstance(raw, SecretStr) else (raw or "")
    entries: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    for position, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        tenant, sep, key = entry.partition(":")
        tenant, key = tenant.strip(), key.strip()
        if not sep or not key:
            raise KeyConfigError(f"BALLAST_API_KEYS entry {position} is not 'tenant:key'")
        if not _TENANT.match(tenant):
            raise KeyConfigError(f"BALLAST_API_KEYS entry {position}: tenant {tenant!r} must be 1-64 characters "
                                 "of letters, digits, '.', '_' or '-'")
        if len(key) < 8:
            raise KeyConfigError(f"BALLAST_API_KEYS entry {position}: the key is shorter than 8 characters")
        encoded = key.encode("utf-8")
        if encoded in seen:
            raise KeyConfigError(f"BALLAST_API_KEYS entry {position}: the same key is given twice")
        seen.add(encoded)
        entries.append((tenant, encoded))
    return KeyRing(tuple(entries))
