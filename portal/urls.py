"""Root URLs. Browser pages of a tenant live under /t/<tenant_slug>/ (see portal/tenancy.py)."""

from django.contrib import admin
from django.urls import include, path

from portal import members, views
from portal.errors_views import handler400_view, handler403_view, handler404_view, handler500_view

portal_patterns = (
    [
        path("", views.home, name="home"),
        path("t/<slug:tenant_slug>/api-keys/", views.api_keys, name="api_keys"),
        path("t/<slug:tenant_slug>/api-keys/<str:prefix>/revoke", views.api_key_revoke_view, name="api_key_revoke"),
        # Members and audit (issue 6): portal/members.py
        path("t/<slug:tenant_slug>/members/", members.members, name="members"),
        path("t/<slug:tenant_slug>/members/invite", members.invite, name="member_invite"),
        path("t/<slug:tenant_slug>/members/<int:membership_id>/role", members.change_role, name="member_role"),
        path("t/<slug:tenant_slug>/members/<int:membership_id>/remove", members.remove, name="member_remove"),
        path("t/<slug:tenant_slug>/audit/", members.audit, name="audit"),
        path("accounts/invite/<str:token>", members.accept_invite, name="accept_invite"),
        path("playground/", views.playground_redirect, name="playground_root"),
    ],
    "portal",
)

urlpatterns = [
    path("api/v1/", include("portal.api_urls")),  # first: the API is most of the traffic
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.account_urls")),
    path("", include(portal_patterns)),
    path("t/<slug:tenant_slug>/", include("widgets.urls")),
    path("", include("keys.urls")),
]

handler400 = handler400_view
handler403 = handler403_view
handler404 = handler404_view
handler500 = handler500_view
