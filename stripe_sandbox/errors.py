"""Stripe's error shape: `{"error": {"type", "code", "message", "param"}}` with its status codes."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error answered the way Stripe answers it."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}

    def body(self, request_log_url: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if request_log_url:
            error["request_log_url"] = request_log_url
        error.update(self.extra)
        return {"error": error}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> StripeError:
    return StripeError(400, "invalid_request_error", message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def unknown_param(param: str) -> StripeError:
    return invalid_request(
        f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """The object named in the path is a 404; one named in a parameter is a 400, as in Stripe."""
    return StripeError(
        status,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        param=param,
        code="resource_missing",
    )


# Status code → error type, for injected faults that only name a status.
TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "card_error",
    404: "invalid_request_error",
    409: "idempotency_error",
    429: "rate_limit_error",
}


def error_for_status(status: int, message: str | None = None) -> StripeError:
    type_ = TYPE_FOR_STATUS.get(status, "api_error")
    code = "rate_limit" if status == 429 else ("card_declined" if status == 402 else None)
    text = message or f"Injected fault: the sandbox answered {status}."
    return StripeError(
        status, type_, text, code=code, decline_code="generic_decline" if status == 402 else None
    )
