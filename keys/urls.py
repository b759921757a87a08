"""Key pages: the public session JWKS, and the tenant's platform encryption keys."""

from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path(".well-known/jwks.json", views.session_jwks, name="session_jwks"),
    # Platform encryption keys (issue 7)
    path("t/<slug:tenant_slug>/encryption-keys/", views.encryption_keys, name="encryption_keys"),
    path("t/<slug:tenant_slug>/encryption-keys/new", views.encryption_key_create, name="encryption_key_create"),
    path(
        "t/<slug:tenant_slug>/encryption-keys/<str:kid>/retire",
        views.encryption_key_retire,
        name="encryption_key_retire",
    ),
    path("t/<slug:tenant_slug>/encryption-keys/<str:kid>.pem", views.encryption_key_pem, name="encryption_key_pem"),
    path(
        "t/<slug:tenant_slug>/encryption-keys/<str:kid>.jwk.json",
        views.encryption_key_jwk,
        name="encryption_key_jwk",
    ),
]
