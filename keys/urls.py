"""Unauthenticated key publication."""

from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path(".well-known/jwks.json", views.session_jwks, name="session_jwks"),
]
