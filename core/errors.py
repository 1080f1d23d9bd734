"""The application's errors. Each carries an HTTP status so one handler can answer for all."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the system reports to a person or a client."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class InvalidInput(AppError):
    status_code = 422
    code = "invalid_input"


class Conflict(AppError):
    """The request is valid but the object is not in a state that allows it."""

    status_code = 409
    code = "conflict"


class PaymentProviderError(AppError):
    """A Stripe call failed; the subclass says how."""

    status_code = 502
    code = "payment_provider_error"


class CardDeclined(PaymentProviderError):
    status_code = 402
    code = "card_declined"


class RateLimited(PaymentProviderError):
    status_code = 503
    code = "stripe_rate_limited"


class StripeUnavailable(PaymentProviderError):
    status_code = 503
    code = "stripe_unavailable"


class InvalidStripeRequest(PaymentProviderError):
    status_code = 502
    code = "stripe_invalid_request"


class InvoicingFailed(AppError):
    """Invoicing a job stopped at a Stripe step; the job stays completed and can be retried."""

    status_code = 502
    code = "invoicing_failed"

    def __init__(self, message: str, *, step: str, cause: PaymentProviderError) -> None:
        super().__init__(message)
        self.step = step
        self.cause = cause
