"""Why the domain refuses a command. Each error's message is meant for the person who sent it."""


class DomainError(Exception):
    """A command that the rules of the ledger refuse; nothing was written."""

    code = "domain_error"


class IllegalTransitionError(DomainError):
    code = "illegal_transition"


class InvalidAmountError(DomainError):
    code = "invalid_amount"


class InsufficientKarmaError(DomainError):
    code = "insufficient_karma"


class SelfReviewError(DomainError):
    code = "self_review"


class DuplicateReviewError(DomainError):
    code = "duplicate_review"


class AgentRetiredError(DomainError):
    code = "agent_retired"


class SelfVoteError(DomainError):
    code = "self_vote"


class DuplicateVoteError(DomainError):
    code = "duplicate_vote"


class DuplicateStakeError(DomainError):
    code = "duplicate_stake"


class UnknownTagError(DomainError):
    code = "unknown_tag"


# Refusals decided before the rules see the command: the aggregate is missing or exists
# already, the caller may not act so, or other writers kept changing the same aggregates.


class NotFoundError(DomainError):
    code = "not_found"


class AlreadyExistsError(DomainError):
    code = "already_exists"


class ForbiddenError(DomainError):
    code = "forbidden"


class ConcurrencyError(DomainError):
    """Other writers kept changing the same aggregates; the command gave up retrying."""

    code = "conflict"


class FutureInstantError(DomainError):
    """A command names an instant beyond the server's clock (a decay ``as_of`` in 2100): the
    ledger records what has happened, so it is refused and nothing is written."""

    code = "future_instant"
