"""Root URLs. Browser pages of a tenant live under /t/<tenant_slug>/ (see portal/tenancy.py)."""

from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.errors_views import handler404_view, handler500_view

portal_patterns = (
    [
        path("", views.home, name="home"),
        path("t/<slug:tenant_slug>/api-keys/", views.api_keys, name="api_keys"),
        path("t/<slug:tenant_slug>/api-keys/<str:prefix>/revoke", views.api_key_revoke_view, name="api_key_revoke"),
    ],
    "portal",
)

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.account_urls")),
    path("api/v1/", include("portal.api_urls")),
    path("", include(portal_patterns)),
    path("t/<slug:tenant_slug>/", include("widgets.urls")),
    path("", include("keys.urls")),
]

handler404 = handler404_view
handler500 = handler500_view
