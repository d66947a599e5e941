"""Storage usage and quotas: what an account's bytes are, when a push would exceed the quota, and the levels of
usage that raise an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shipshape.domain.errors import PolicyRefused
from shipshape.domain.sizes import format_size

ALERT_LEVELS = (80, 90)  # percent of the quota; crossing one upwards is audited and sent to webhooks
QUOTA_RULE = "quota"


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes stored: each distinct blob once, however many repositories share it, plus each distinct manifest."""

    blob_bytes: int = 0
    blobs: int = 0
    manifest_bytes: int = 0
    manifests: int = 0

    @property
    def bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """One day's usage of an account (`registry` empty) or of one of its registries."""

    day: date
    registry: str
    bytes: int


def percent_of(used: int, quota: int) -> int:
    """Whole percent of the quota used (a zero quota counts as full once anything is stored)."""
    if quota <= 0:
        return 100 if used > 0 else 0
    return used * 100 // quota


def alert_level(used: int, quota: int) -> int:
    """The highest alert level `used` has reached (0 below the first)."""
    percent = percent_of(used, quota)
    return max((level for level in ALERT_LEVELS if percent >= level), default=0)


def quota_refusal(account: str, used: int, adding: int, quota: int) -> PolicyRefused | None:
    """The refusal of storing `adding` more bytes in `account`, or None when it fits."""
    if used + adding <= quota:
        return None
    return PolicyRefused(
        QUOTA_RULE,
        f"storage quota of account {account} exceeded: {format_size(used)} used of {format_size(quota)}, and this"
        f" push adds {format_size(adding)}. Delete images you no longer need (`shipshape image list`, `shipshape"
        f" image delete`, or retention rules) and run `shipshape gc run`, or ask a server administrator to raise"
        f" the quota (`shipshape account set-quota {account} SIZE`)",
        {"used": str(used), "limit": str(quota), "adding": str(adding)},
    )
