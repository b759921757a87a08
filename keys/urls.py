"""Key pages: the public session JWKS, and the tenant's platform encryption keys."""

from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path(".well-known/jwks.json", views.session_jwks, name="session_jwks"),
    # Platform encryption keys (issue 7)
    path("t/<slug:tenant_slug>/encryption-keys/", views.encryption_keys, name="encryption_keys"),
]
