"""Error handlers: the JSON face (API.md: never HTML) answers with its envelope, pages with a page."""

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults
from django.views.csrf import csrf_failure

from portal.api import error_response

# The URLs of API.md: the API, the health check, the public session JWKS.
JSON_PREFIXES = ("/api/", "/healthz", "/.well-known/")


def speaks_json(request) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def handler400_view(request, exception=None):
    # Django answers 400 for a Host not in ALLOWED_HOSTS, too many fields, an unreadable upload...
    if speaks_json(request):
        return error_response(400, "invalid_request", "The request could not be read (bad Host header or form).")
    return defaults.bad_request(request, exception)


def handler403_view(request, exception=None):
    if speaks_json(request):
        return error_response(403, "forbidden", "This request is not allowed.")
    return defaults.permission_denied(request, exception)


def csrf_failure_view(request, reason=""):
    # No JSON URL takes a cookie, so none checks CSRF; this only keeps a future one from answering HTML.
    if speaks_json(request):
        return error_response(403, "forbidden", "This URL does not take cookie-authenticated writes.")
    return csrf_failure(request, reason)


def handler404_view(request, exception=None):
    if speaks_json(request):
        return error_response(404, "not_found", "No such API endpoint or object.")
    return render(request, "404.html", status=404)


def handler500_view(request):
    if speaks_json(request):
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
    # No request context: the failure may be the database that context processors read.
    return HttpResponse(render_to_string("500.html"), status=500)
