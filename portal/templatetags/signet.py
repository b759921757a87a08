"""Template filters every page may use (registered as builtins in settings.TEMPLATES)."""

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment):
    """'just now' within a minute (Django's timesince would say '0 minutes'), else e.g. '3 minutes ago'."""
    if not moment:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):  # a clock a little ahead reads as now, too
        return "just now"
    return f"{timesince(moment)} ago"
