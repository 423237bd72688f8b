from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from calls.home import help as operators_help

admin.site.site_header = "Phone agents"
admin.site.site_title = "Phone agents"
admin.site.index_title = "Agents and calls"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before the admin's own: its catch-all would answer these addresses with a 404.
    path("admin/help/", operators_help.operators_help, name="operators_help"),
    path(
        "admin/help/screenshots/<str:name>",
        operators_help.help_picture,
        name="operators_help_picture",
    ),
    path("admin/help/<str:page>", operators_help.operators_help, name="operators_help_page"),
    path("admin/", admin.site.urls),
    path("sautikit/", include("calls.urls")),
    path("talk/", include("calls.talk_urls")),
]
