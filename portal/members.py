"""Members, invitations and the audit page of a tenant.

Owners list, invite, re-role and remove members (the last owner can be neither
demoted nor removed: portal.services says so). Every member may read the
tenant's audit trail; no page edits or deletes an audit event. An invitation
link is shown once, to the owner who made it, and mailed to the invited
address; accepting it never reveals whether that address already has an account.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.accounts import client_ip
from portal.errors import ServiceError
from portal.forms import AuditFilterForm, InviteForm, InviteSignupForm, RoleForm
from portal.models import Invitation, Membership, Role
from portal.selectors import audit_events_of, member_for, members_of
from portal.services import (
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_pending_by_token,
    invitation_revoke,
    invitation_send,
    membership_change_role,
    membership_remove,
)
from portal.tenancy import tenant_view

AUDIT_PAGE_SIZE = 50


def _pending_invitations(tenant):
    return Invitation.objects.filter(tenant=tenant, accepted_at__isnull=True, expires_at__gt=timezone.now()).order_by(
        "-created_at"
    )


@tenant_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def members(request):
    if request.method == "POST":
        # The only change made on this page itself: withdrawing a pending invitation.
        invitation = _pending_invitations(request.tenant).filter(pk=_int(request.POST.get("invitation"))).first()
        if invitation is None:
            messages.error(request, "That invitation is already used, expired or withdrawn.")
        else:
            invitation_revoke(invitation=invitation, actor=request.user)
            messages.success(request, f"The invitation of {invitation.email} is withdrawn; its link no longer works.")
        return redirect("portal:members", tenant_slug=request.tenant.slug)
    rows = list(members_of(tenant=request.tenant))
    owners = sum(1 for m in rows if m.role == Role.OWNER)
    for m in rows:
        m.is_last_owner = m.role == Role.OWNER and owners == 1
    return render(
        request,
        "portal/members.html",
        {
            "rows": rows,
            "owner_count": owners,
            "roles": Role.choices,
            "invitations": _pending_invitations(request.tenant).select_related("invited_by"),
        },
    )


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


@tenant_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, raw = invitation_create(
                tenant=request.tenant,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=request.user,
                ip=client_ip(request),
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            link = request.build_absolute_uri(reverse("portal:accept_invite", kwargs={"token": raw}))
            sent = invitation_send(invitation=invitation, link=link)
            response = render(
                request, "portal/invite_created.html", {"invitation": invitation, "link": link, "sent": sent}
            )
            # The link is a credential: shown once, never kept by a cache or the back button.
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "portal/invite_form.html", {"form": form})


@tenant_view(Role.OWNER)
@require_POST
def change_role(request, membership_id):
    membership = member_for(tenant=request.tenant, membership_id=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of owner, admin, developer or viewer; the role was not changed.")
        return redirect("portal:members", tenant_slug=request.tenant.slug)
    try:
        membership = membership_change_role(membership=membership, role=form.cleaned_data["role"], actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("portal:members", tenant_slug=request.tenant.slug)
    messages.success(request, f"{membership.user.username} is now {membership.get_role_display().lower()}.")
    if membership.user_id == request.user.pk and membership.role != Role.OWNER:
        # You just gave up the right to see the members page.
        return redirect("widgets:dashboard", tenant_slug=request.tenant.slug)
    return redirect("portal:members", tenant_slug=request.tenant.slug)


@tenant_view(Role.OWNER)
@require_POST
def remove(request, membership_id):
    membership = member_for(tenant=request.tenant, membership_id=membership_id)
    username = membership.user.username
    try:
        membership_remove(membership=membership, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("portal:members", tenant_slug=request.tenant.slug)
    messages.success(request, f"{username} is no longer a member of {request.tenant.name}.")
    if membership.user_id == request.user.pk:
        return redirect("portal:home")
    return redirect("portal:members", tenant_slug=request.tenant.slug)


@tenant_view(Role.VIEWER)
@require_GET
def audit(request):
    events = audit_events_of(tenant=request.tenant)
    form = AuditFilterForm(request.GET or None)
    filters = {}
    if form.is_bound:
        if form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v}
            if "action" in filters:
                events = events.filter(action=filters["action"])
            if "actor" in filters:
                events = events.filter(actor_label=filters["actor"])
        else:
            events = events.none()
    page = Paginator(events.order_by("-at", "-id"), AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    known = audit_events_of(tenant=request.tenant).order_by()
    return render(
        request,
        "portal/audit.html",
        {
            "form": form,
            "page": page,
            "rows": [(event, _details_text(event.details)) for event in page],
            "filter_query": urlencode(filters),
            "filtered": bool(filters),
            "actions": known.values_list("action", flat=True).distinct().order_by("action")[:200],
            "actors": known.values_list("actor_label", flat=True).distinct().order_by("actor_label")[:200],
        },
    )


def _details_text(details) -> str:
    if not details:
        return ""
    return json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)[:500]


@never_cache
@require_http_methods(["GET", "POST"])
def accept_invite(request, token):
    invitation = invitation_pending_by_token(token=token)
    if invitation is None:
        return render(request, "portal/accept_invite.html", {"invalid": True}, status=404)
    context = {"invitation": invitation, "role_label": Role(invitation.role).label}
    if request.user.is_authenticated:
        mismatch = (request.user.email or "").strip().lower() != invitation.email.lower()
        already = Membership.objects.filter(user=request.user, tenant=invitation.tenant).exists()
        if request.method == "POST" and not mismatch:
            try:
                invitation_accept(invitation=invitation, user=request.user, ip=client_ip(request))
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Welcome to {invitation.tenant.name}.")
                return redirect("widgets:dashboard", tenant_slug=invitation.tenant.slug)
        return render(request, "portal/accept_invite.html", {**context, "mismatch": mismatch, "already": already})

    form = InviteSignupForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept_new_user(
                invitation=invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
                ip=client_ip(request),
            )
        except ServiceError as exc:
            if exc.status == 404:
                raise Http404 from None
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(request, f"Welcome to {invitation.tenant.name}, {user.username}.")
            return redirect("widgets:dashboard", tenant_slug=invitation.tenant.slug)
    login_url = f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}"
    return render(request, "portal/accept_invite.html", {**context, "form": form, "login_url": login_url})
