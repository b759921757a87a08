"""Accounts: the throttled login (portal.accounts), logout, and the password change that logs out other sessions."""

from django.contrib.auth import views as auth_views
from django.urls import path

from portal import accounts

urlpatterns = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
