"""Tenant pages under /t/<tenant_slug>/ (every view is wrapped in portal.tenancy.tenant_view)."""

from django.urls import path

from widgets import insights_views, playground, views

app_name = "widgets"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("widgets/new", views.widget_create_view, name="create"),
    path("widgets/<str:widget_id>/", views.widget_detail, name="detail"),
    path("widgets/<str:widget_id>/settings", views.widget_settings, name="settings"),
    path("widgets/<str:widget_id>/keys/add", views.key_add, name="key_add"),
    path("widgets/<str:widget_id>/keys/<str:kid>/revoke", views.key_revoke, name="key_revoke"),
    path("widgets/<str:widget_id>/allowlist/add", views.allowlist_add, name="allowlist_add"),
    path("widgets/<str:widget_id>/allowlist/remove", views.allowlist_remove, name="allowlist_remove"),
    path("widgets/<str:widget_id>/insights", insights_views.insights_page, name="insights"),
    # Playground (issue 5): widgets/playground.py
    path("playground/", playground.playground, name="playground"),
]
