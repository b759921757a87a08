"""/api/v1/ — the service API of ../shared/API.md."""

from django.urls import path

from keys import api as keys_api
from portal import openapi
from widgets import api as widgets_api

app_name = "api"

# URLs resolve in order: the two verify endpoints, which carry nearly all of the traffic, come first.
urlpatterns = [
    path("widgets/<str:widget_id>/verify", widgets_api.verify, name="verify"),
    path("widgets/<str:widget_id>/verify-batch", widgets_api.verify_batch, name="verify_batch"),
    path("openapi.json", openapi.openapi_json, name="openapi"),
    path("widgets", widgets_api.widgets, name="widgets"),
    path("widgets/<str:widget_id>", widgets_api.widget_detail, name="widget"),
    path("widgets/<str:widget_id>/unsigned-fields", widgets_api.unsigned_fields, name="unsigned_fields"),
    path("widgets/<str:widget_id>/keys", widgets_api.keys, name="keys"),
    path("widgets/<str:widget_id>/keys/<str:kid>/revoke", widgets_api.key_revoke, name="key_revoke"),
    path("widgets/<str:widget_id>/jwks.json", widgets_api.jwks, name="jwks"),
    path("widgets/<str:widget_id>/insights", widgets_api.widget_insights, name="insights"),
    path("encryption-keys", keys_api.encryption_keys, name="encryption_keys"),
    path("encryption-keys/<str:kid>/retire", keys_api.encryption_key_retire, name="encryption_key_retire"),
    path("sessions/redeem", keys_api.session_redeem, name="session_redeem"),
]
