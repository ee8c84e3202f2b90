"""The errors of sk_kerasbag that a caller may want to catch by type."""

from __future__ import annotations


class NotFiniteError(FloatingPointError):
    """A member's loss, or its output, is NaN or infinite.

    Raised by ``fit`` as soon as an epoch ends with a member's loss NaN or
    infinite (the member has diverged: its weights are no longer numbers),
    and by prediction when a member's output is, so that NaN never reaches
    the caller as if it were a prediction.

    Attributes
    ----------
    member : int
        The member, counted from 1 as in ``fit_statistics_``.
    epoch : int or None
        The epoch the loss became NaN or infinite, counted from 1 as in
        ``fit_statistics_``; None for a prediction.
    """

    def __init__(self, message: str, member: int, epoch: int | None = None):
        super().__init__(message)
        self.member, self.epoch = member, epoch

    def __reduce__(self):
        # So that it crosses from a worker process to the parent intact.
        return type(self), (str(self), self.member, self.epoch)
