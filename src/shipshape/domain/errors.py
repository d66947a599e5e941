"""Domain errors. Handlers translate them to wire errors through one table (`shipshape.api.errors`)."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every error a client can cause; `message` is shown to the user and says how to fix it."""

    def __init__(self, message: str, detail: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameInvalid(RegistryError):
    """A repository name breaks the OCI name grammar."""


class NameUnknown(RegistryError):
    """The repository does not exist."""


class TagInvalid(RegistryError):
    """A tag breaks the OCI tag grammar."""


class DigestInvalid(RegistryError):
    """A digest is malformed, uses an unsupported algorithm, or does not match the content."""


class BlobUnknown(RegistryError):
    """The blob is not in the repository."""


class BlobUploadUnknown(RegistryError):
    """The upload session does not exist (finished, cancelled or purged)."""


class BlobUploadInvalid(RegistryError):
    """The upload request is inconsistent (bad Content-Range, size mismatch...)."""


class RangeInvalid(RegistryError):
    """A chunk does not start where the upload ends, or a requested byte range cannot be served."""


class ManifestInvalid(RegistryError):
    """The manifest document is malformed or inconsistent."""


class ManifestTooLarge(ManifestInvalid):
    """The manifest is larger than the registry accepts."""


class ManifestUnknown(RegistryError):
    """The manifest (or a child manifest an index names) is not in the repository."""


class ChildManifestUnknown(ManifestUnknown):
    """An index being pushed lists a manifest that is not in the repository (a bad request, not a missing page)."""


class ManifestBlobUnknown(RegistryError):
    """A manifest references a blob that is not in the repository."""


class PaginationInvalid(RegistryError):
    """The `n` or `last` pagination parameter is malformed."""


class Conflict(RegistryError):
    """The operation would break an invariant (e.g. delete something a manifest still references)."""


class Unsupported(RegistryError):
    """The operation or media type is not supported."""


class Unauthorized(RegistryError):
    """The caller sent no credentials, or credentials (password, secret, token) that are not valid."""


class CredentialExpired(Unauthorized):
    """The credential's secret is right but the credential has passed its expiry."""


class CredentialRevoked(Unauthorized):
    """The credential's secret is right but the credential has been revoked."""


class Denied(RegistryError):
    """The caller is authenticated but not allowed to do this."""


class PolicyRefused(Denied):
    """A registry policy refuses the operation; `rule` names the rule, the message says what to do instead."""

    def __init__(self, rule: str, message: str, detail: dict[str, str] | None = None) -> None:
        super().__init__(message, {"rule": rule, **(detail or {})})
        self.rule = rule


class PolicyInvalid(RegistryError):
    """A policy document or setting is malformed."""


class PasswordRejected(RegistryError):
    """A new member password breaks the password policy."""


class CredentialRequestInvalid(RegistryError):
    """A request to create or change a credential is out of bounds (e.g. a lifetime beyond the account's maximum)."""


class ScopeInvalid(RegistryError):
    """A token request's `scope` parameter breaks the Docker token scope grammar."""


class LoginLocked(RegistryError):
    """Too many failed logins for this login name; wait or ask an administrator."""


class JobBusy(Conflict):
    """A background job (garbage collection, retention) that runs one at a time is running in another process."""
