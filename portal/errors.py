"""Errors as values with codes, shared by services, the API and the forms."""


class ServiceError(Exception):
    """A refused change: `code` is the API's error code, `message` is for the person, `field` names the input."""

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
