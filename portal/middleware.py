"""Response headers every page gets, and an early refusal of oversized bodies.

The Content-Security-Policy allows no inline script or style: behaviour lives in
static/js, looks in static/css. This middleware is the outermost one, so every
response (errors, 413s, static files) carries the headers.
"""

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpResponse

from portal.api import error_response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline scripts anywhere: behaviour lives in static/js
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Django's SecurityMiddleware and XFrameOptionsMiddleware set these too, but a response made
        # before them (413 from BodySizeLimitMiddleware, static files from WhiteNoise) skips them.
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class BodySizeLimitMiddleware:
    """Refuse a declared body over the limit before anything reads it (413)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if request.path.startswith("/api/"):
            limit = settings.SIGNET["API_MAX_BODY_BYTES"]
            if length > limit:
                return error_response(413, "request_too_large", f"The request body is over the {limit}-byte limit.")
        elif length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return HttpResponse("Request body too large.", status=413, content_type="text/plain")
        return self.get_response(request)


# --- pages-only middleware -------------------------------------------------------------
# The JSON API authenticates with a bearer key on every request: it has no session, user or flash
# message. These are Django's own middleware, skipped for /api/ only; together they cost about 10 %
# of a verification. They stay subclasses, so Django's admin checks still find them. (CSRF and
# X-Frame-Options stay Django's own, unchanged: `check --deploy` looks for them by name, and
# the API's views are csrf_exempt.)


def is_api(request) -> bool:
    return request.path_info.startswith("/api/")


class SessionMiddleware(DjangoSessionMiddleware):
    def process_request(self, request):
        if not is_api(request):
            super().process_request(request)

    def process_response(self, request, response):
        return response if is_api(request) else super().process_response(request, response)


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    def process_request(self, request):
        if not is_api(request):
            super().process_request(request)


class MessageMiddleware(DjangoMessageMiddleware):
    def process_request(self, request):
        if not is_api(request):
            super().process_request(request)
