"""Who may manage what: pure rules over the acting member, each refusal naming its rule and the way forward.

Server administrators are the owners of account `default`: they create accounts and see and manage every account.
Owners and admins of an account manage its registries, members and credentials and read its audit log; every member
of an account may read its registries. Only owners hand out (or take away) the owner role.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipshape.domain.access import Member, Role
from shipshape.services.bootstrap import DEFAULT_ACCOUNT as SERVER_ACCOUNT  # its owners administer the server

MANAGING_ROLES = frozenset({Role.OWNER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a member may not do something: `rule` names the rule (for the audit log), `message` says what to do."""

    rule: str
    message: str


def is_server_admin(member: Member) -> bool:
    return member.account == SERVER_ACCOUNT and member.role is Role.OWNER


def may_create_account(member: Member) -> Refusal | None:
    if is_server_admin(member):
        return None
    return Refusal(
        "server-admin-only",
        f"only server administrators (owners of account {SERVER_ACCOUNT!r}) may create accounts;"
        f" {member.username} is a {member.role} of {member.account!r}: ask a server administrator",
    )


def may_see(member: Member | None, account: str) -> bool:
    """Whether `member` may learn that something of `account` exists (None: no member is asking)."""
    return member is None or member.account == account or is_server_admin(member)


def may_read(member: Member, account: str) -> Refusal | None:
    """Read an account's registries: any member of the account, or a server administrator."""
    if member.account == account or is_server_admin(member):
        return None
    return Refusal(
        "members-only",
        f"{member.username} is not a member of account {account!r}: only its members may see its registries;"
        f" ask an owner of {account!r} to add you",
    )


def may_manage(member: Member, account: str, what: str) -> Refusal | None:
    """Manage an account's `what` (registries, members, credentials, audit log): its owners and admins."""
    if is_server_admin(member) or (member.account == account and member.role in MANAGING_ROLES):
        return None
    if member.account != account:
        return Refusal(
            "owner-or-admin",
            f"{member.username} is not a member of account {account!r}: managing its {what} needs the owner or"
            f" admin role in {account!r}; ask one of its owners",
        )
    return Refusal(
        "owner-or-admin",
        f"{member.username} is a {member.role} of account {account!r}: managing its {what} needs the owner or"
        " admin role; ask an owner of the account to do it or to change your role",
    )


def may_grant(member: Member, account: str, role: Role) -> Refusal | None:
    """Add a member with `role` to `account` (or remove one who has it): managers may, and the owner role is the
    owners' to give."""
    refusal = may_manage(member, account, "members")
    if refusal is not None:
        return refusal
    if role is Role.OWNER and not (is_server_admin(member) or member.role is Role.OWNER):
        return Refusal(
            "owners-grant-owner",
            f"only owners of account {account!r} may add or remove owners; {member.username} is an {member.role}:"
            " choose the admin role or ask an owner",
        )
    return None


def may_remove(member: Member, target: Member, owners_left: int) -> Refusal | None:
    """Remove `target` from its account; `owners_left` is how many owners the account would keep."""
    refusal = may_grant(member, target.account, target.role)
    if refusal is not None:
        return refusal
    if target.role is Role.OWNER and owners_left < 1:
        return Refusal(
            "last-owner",
            f"{target.username} is the last owner of account {target.account!r}: add another owner first,"
            " so that someone can still manage the account",
        )
    return None


def may_set_password(member: Member, target: Member) -> Refusal | None:
    """Set `target`'s password: their own, or as a manager of their account (an owner's only by an owner)."""
    if member.username == target.username:
        return None
    return may_grant(member, target.account, target.role)


def may_collect_garbage(member: Member) -> Refusal | None:
    """Garbage collection spans every account's blobs (they are shared): a server-wide operation."""
    if is_server_admin(member):
        return None
    return Refusal(
        "server-admin-only",
        f"only server administrators (owners of account {SERVER_ACCOUNT!r}) may run garbage collection;"
        f" {member.username} is a {member.role} of {member.account!r}: it runs on its own every hour anyway",
    )
