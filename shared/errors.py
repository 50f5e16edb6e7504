"""Domain errors: what went wrong, in words and a stable code, without HTTP.

The domain raises these; the gateway alone maps each class to a status
(``api/problems.py``), and the ops command prints them. ``code`` is part of the public
contract: clients branch on it, so a code never changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field of a request."""

    field: str
    code: str
    message: str


class DomainError(Exception):
    """An error with a stable code; ``problems`` lists each field's problem where there are several."""

    def __init__(self, code: str, message: str, problems: list[FieldProblem] | None = None,
                 retry_after_s: int | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.problems: list[FieldProblem] = problems or []
        self.retry_after_s = retry_after_s  # when trying again later may succeed

    @classmethod
    def with_problems(cls, problems: list[FieldProblem]) -> DomainError:
        """One error for several problems: the first one's code, every message."""
        if not problems:
            raise ValueError("with_problems needs at least one problem")
        first = problems[0]
        message = first.message if len(problems) == 1 else \
            f"{len(problems)} problems: " + "; ".join(p.message for p in problems)
        return cls(first.code, message, problems)


class NotFound(DomainError):
    """The thing does not exist, or belongs to another tenant (which is the same to the caller)."""


class Invalid(DomainError):
    """The request is well-formed but its values are not acceptable; lists every problem at once."""

    def __init__(self, problems: list[FieldProblem]):
        made = DomainError.with_problems(problems)
        super().__init__(made.code, made.message, problems)

    @classmethod
    def one(cls, field: str, code: str, message: str) -> Invalid:
        return cls([FieldProblem(field, code, message)])


class Conflict(DomainError):
    """The request clashes with the thing's current state (a job not done yet, a reused key)."""


class TooLarge(DomainError):
    """A size limit: bytes, pixels, photos per audit."""


class UnsupportedMedia(DomainError):
    """Not a photo format the service reads."""


class OverQuota(DomainError):
    """A tenant's allowance is used up until ``retry_after_s`` from now."""


class Unavailable(DomainError):
    """A dependency (broker, database, object storage) is down; the caller may retry."""

    def __init__(self, code: str, message: str, retry_after_s: int = 5):
        super().__init__(code, message, retry_after_s=retry_after_s)
