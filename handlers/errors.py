"""Why a command was refused before the domain saw it. Nothing was written in any case."""

from domain.errors import DomainError


class NotFoundError(DomainError):
    code = "not_found"


class AlreadyExistsError(DomainError):
    code = "already_exists"


class ForbiddenError(DomainError):
    code = "forbidden"


class ConcurrencyError(DomainError):
    """Other writers kept changing the same aggregates; the command gave up retrying."""

    code = "conflict"
