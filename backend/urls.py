from django.contrib import admin
from django.urls import include, path

from scheduling import feed, views_misc
from scheduling.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views_misc.healthz, name="healthz"),
    path("readyz", views_misc.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("calendar/<str:token>.ics", feed.calendar_feed, name="calendar-feed"),
    path("api/", include("scheduling.api.urls")),
    path("", include("scheduling.web.urls")),
]

handler404 = "scheduling.views_misc.not_found"
handler500 = "scheduling.views_misc.server_error"
