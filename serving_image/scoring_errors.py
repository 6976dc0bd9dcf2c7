"""The errors a scoring request can end in, each with its HTTP status and an MLflow-style JSON body.

The body has MLflow's shape (`{"error_code": ..., "message": ...}`), so clients written against
`mlflow models serve` read our errors unchanged.
"""

from __future__ import annotations

import orjson


class ScoringError(Exception):
    """A request that cannot be answered with predictions; `message` says what was wrong."""

    def __init__(self, status: int, error_code: str, message: str):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> bytes:
        return orjson.dumps({"error_code": self.error_code, "message": self.message})


def bad_request(message: str) -> ScoringError:
    return ScoringError(400, "BAD_REQUEST", message)


def unsupported_media_type(message: str) -> ScoringError:
    return ScoringError(415, "UNSUPPORTED_MEDIA_TYPE", message)


def request_too_large(limit: int) -> ScoringError:
    return ScoringError(
        413, "REQUEST_TOO_LARGE", f"request body is larger than MAX_REQUEST_BYTES={limit}; send fewer rows per request"
    )


def not_ready(reason: str) -> ScoringError:
    return ScoringError(503, "TEMPORARILY_UNAVAILABLE", f"model is not ready: {reason}")


def prediction_failed(error: BaseException) -> ScoringError:
    return ScoringError(500, "INTERNAL_ERROR", f"the model raised {type(error).__name__}: {error}")
