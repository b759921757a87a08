"""JSON API: platform encryption keys and visitor-session redemption (issue 7). Placeholders."""

from portal.api import ApiError, api_endpoint


def _not_yet():
    raise ApiError("not_found", "Not available yet.", status=404)


@api_endpoint("GET", "POST")
def encryption_keys(request):
    _not_yet()


@api_endpoint("POST")
def encryption_key_retire(request, kid):
    _not_yet()


@api_endpoint("POST")
def session_redeem(request):
    _not_yet()
