"""404/500 handlers: the API always answers with its JSON envelope, pages with a page."""

from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from portal.api import error_response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404_view(request, exception=None):
    if _is_api(request):
        return error_response(404, "not_found", "No such API endpoint or object.")
    return render(request, "404.html", status=404)


def handler500_view(request):
    if _is_api(request):
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
    # No request context: the failure may be the database that context processors read.
    return HttpResponse(render_to_string("500.html"), status=500)
