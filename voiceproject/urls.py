from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Phone agents"
admin.site.site_title = "Phone agents"
admin.site.index_title = "Agents and calls"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("sautikit/", include("calls.urls")),
    path("talk/", include("calls.talk_urls")),
]
