from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import open_requests, programmes, views

v1 = [
    path("auth/token", views.TokenView.as_view(), name="api-token"),
    path("auth/tokens", views.TokenListView.as_view(), name="api-api-tokens"),
    path("auth/tokens/<int:pk>", views.TokenDetailView.as_view(), name="api-api-token"),
    path("me", views.MeView.as_view(), name="api-me"),
    path("me/calendar-link", views.CalendarLinkView.as_view(), name="api-calendar-link"),
    path("me/learning", views.LearningView.as_view(), name="api-learning"),
    path("me/export", views.ExportView.as_view(), name="api-export"),
    path("stations", views.StationListView.as_view(), name="api-stations"),
    path("stations/<int:pk>", views.StationDetailView.as_view(), name="api-station"),
    path("stations/<int:pk>/report", views.StationReportView.as_view(), name="api-station-report"),
    path("stations/<int:pk>/suspend", views.StationSuspendView.as_view(), name="api-station-suspend"),
    path("resources", views.ResourceListView.as_view(), name="api-resources"),
    path("resources/<int:pk>", views.ResourceDetailView.as_view(), name="api-resource"),
    path("people", views.PersonListView.as_view(), name="api-people"),
    path("people/lookup", views.PersonLookupView.as_view(), name="api-people-lookup"),
    path("people/<int:pk>", views.PersonDetailView.as_view(), name="api-person"),
    path("people/<int:pk>/history", views.PersonHistoryView.as_view(), name="api-person-history"),
    path("people/<int:pk>/clearances", views.ClearanceListView.as_view(), name="api-person-clearances"),
    path("clearances/<int:pk>", views.ClearanceDetailView.as_view(), name="api-clearance"),
    path("shifts", views.ShiftListView.as_view(), name="api-shifts"),
    path("shifts/<int:pk>", views.ShiftDetailView.as_view(), name="api-shift"),
    path("bookings", views.BookingListView.as_view(), name="api-bookings"),
    path("bookings/<int:pk>", views.BookingDetailView.as_view(), name="api-booking"),
    path("bookings/<int:pk>/approve", views.ApproveView.as_view(), name="api-booking-approve"),
    path("bookings/<int:pk>/decline", views.DeclineView.as_view(), name="api-booking-decline"),
    path("bookings/<int:pk>/cancel", views.CancelView.as_view(), name="api-booking-cancel"),
    path("bookings/<int:pk>/consent", views.ConsentView.as_view(), name="api-booking-consent"),
    path("bookings/<int:pk>/outcome", views.OutcomeView.as_view(), name="api-booking-outcome"),
    path("bookings/<int:pk>/history", views.BookingHistoryView.as_view(), name="api-booking-history"),
    path("bookings/<int:pk>/ics", views.BookingIcsView.as_view(), name="api-booking-ics"),
    path("bookings/<int:pk>/reflection", views.ReflectionView.as_view(), name="api-booking-reflection"),
    path("bookings/<int:pk>/reflections", views.ReflectionListView.as_view(), name="api-booking-reflections"),
    path("bookings/<int:pk>/actions", views.ActionListView.as_view(), name="api-booking-actions"),
    path("bookings/<int:pk>/feedback", views.FeedbackView.as_view(), name="api-booking-feedback"),
    path("actions/<int:pk>", views.ActionDetailView.as_view(), name="api-action"),
    path("me/programmes", programmes.MyProgrammesView.as_view(), name="api-my-programmes"),
    path("programmes", programmes.ProgrammeListView.as_view(), name="api-programmes"),
    path("programmes/<int:pk>", programmes.ProgrammeDetailView.as_view(), name="api-programme"),
    path("programmes/<int:pk>/members", programmes.MemberListView.as_view(), name="api-programme-members"),
    path(
        "programmes/<int:pk>/members/<int:person>",
        programmes.MemberDetailView.as_view(),
        name="api-programme-member",
    ),
    path("programmes/<int:pk>/progress", programmes.ProgressView.as_view(), name="api-programme-progress"),
    path("open-requests", open_requests.OpenRequestListView.as_view(), name="api-open-requests"),
    path("open-requests/<int:pk>", open_requests.OpenRequestDetailView.as_view(), name="api-open-request"),
    path(
        "open-requests/<int:pk>/suggestions",
        open_requests.SuggestionListView.as_view(),
        name="api-open-request-suggestions",
    ),
    path("open-requests/<int:pk>/withdraw", open_requests.WithdrawView.as_view(), name="api-open-request-withdraw"),
    path("open-requests/<int:pk>/close", open_requests.CloseView.as_view(), name="api-open-request-close"),
    path("open-requests/<int:pk>/place", open_requests.PlaceView.as_view(), name="api-open-request-place"),
]

urlpatterns = [
    *[path("v1/" + str(p.pattern), p.callback, name=p.name) for p in v1],
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the docs need no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
