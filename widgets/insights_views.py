"""The insights page of a widget (issue 9); the figures come from widgets/insights.py."""

from django.shortcuts import render

from portal.errors import ServiceError
from portal.models import Role
from portal.tenancy import tenant_view
from widgets import insights, outcomes
from widgets.selectors import widget_for


@tenant_view(Role.VIEWER)
def insights_page(request, widget_id):
    widget = widget_for(tenant=request.tenant, public_id=widget_id)
    outcomes.flush()  # show this process's buffered rows too
    window = request.GET.get("window", "7d")
    error = None
    try:
        summary = insights.summarize(widget, window)
    except ServiceError as exc:
        error = exc.message
        summary = insights.summarize(widget, "7d")
    return render(
        request,
        "widgets/insights.html",
        {
            "widget": widget,
            "summary": summary,
            "chart": insights.chart(summary),
            "windows": list(insights.WINDOWS),
            "window_error": error,
        },
    )
