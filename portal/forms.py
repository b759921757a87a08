"""Browser forms of the portal's member, invitation and audit pages.

Forms only shape and bound the input; the rules (roles, last owner, email
checks) live in portal.services so the pages and any other caller agree.
"""

import re

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.validators import ASCIIUsernameValidator

from portal.models import Role

ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class InviteForm(forms.Form):
    email = forms.CharField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The invitation link is shown once on the next page and emailed to this address.",
    )
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.VIEWER,
        help_text=(
            "Owner: members and everything below. Admin: widgets, keys, allowlists, API and encryption keys. "
            "Developer: read everything, use the playground, test keys where a widget allows. Viewer: read only."
        ),
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=64, label="Action")
    actor = forms.CharField(required=False, max_length=150, label="Actor")

    def clean_action(self):
        value = self.cleaned_data["action"].strip()
        if value and not ACTION_RE.match(value):
            raise forms.ValidationError("An action looks like 'key.added': lowercase words joined by dots.")
        return value

    def clean_actor(self):
        value = self.cleaned_data["actor"].strip()
        if CONTROL_RE.search(value):
            raise forms.ValidationError("The actor must not contain control characters.")
        return value


class InviteSignupForm(UserCreationForm):
    """A new account for an invited address: the address comes from the invitation, not the form."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        # The password validators compare the password with the address too.
        self.instance.email = email
        username = self.fields["username"]
        # ASCII only: a look-alike of another member's name (Cyrillic "а" for "a") cannot be chosen.
        username.validators.append(ASCIIUsernameValidator())
        username.help_text = "Up to 150 characters: ASCII letters, digits and @ . + - _ only."
