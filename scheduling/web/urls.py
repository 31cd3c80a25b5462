from django.urls import path

from . import answer, open_requests, sso, station, views
from .forms import SignInForm

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("act/<str:token>/", answer.answer, name="answer"),
    path(
        "sign-in/",
        sso.SignInView.as_view(authentication_form=SignInForm),
        name="login",
    ),
    path("sign-out/", sso.sign_out, name="logout"),
    path("oidc/authenticate/", sso.authenticate, name="oidc-authenticate"),
    path("oidc/callback/", sso.callback, name="oidc-callback"),
    path("shifts/", views.find_shifts, name="shifts"),
    path("shifts/<int:shift_id>/request/", views.request_booking, name="request"),
    path("ask/", open_requests.ask_for_a_date, name="ask-date"),
    path("requests/<int:pk>/withdraw/", open_requests.withdraw, name="request-withdraw"),
    path("lead/requests/", open_requests.station_requests, name="station-requests"),
    path("lead/requests/<int:pk>/place/", open_requests.place, name="request-place"),
    path("lead/requests/<int:pk>/close/", open_requests.close, name="request-close"),
    path("bookings/", views.my_bookings, name="bookings"),
    path("bookings/<int:pk>/", views.booking_detail, name="booking"),
    path("bookings/<int:pk>/approve/", views.approve, name="approve"),
    path("bookings/<int:pk>/decline/", views.decline, name="decline"),
    path("bookings/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("bookings/<int:pk>/consent/", views.consent, name="consent"),
    path("bookings/<int:pk>/calendar.ics", views.booking_ics, name="booking-ics"),
    path("bookings/<int:pk>/reflection/", views.reflect, name="reflect"),
    path("bookings/<int:pk>/actions/", views.add_action, name="add-action"),
    path("bookings/<int:pk>/actions/<int:action_id>/", views.action_done, name="action-done"),
    path("bookings/<int:pk>/feedback/", views.leave_feedback, name="feedback"),
    path("learning/", views.learning_log, name="learning"),
    path("my-data/", views.my_data, name="my-data"),
    path("lead/queue/", views.lead_queue, name="queue"),
    path("lead/", station.stations, name="lead-stations"),
    path("lead/stations/<int:station_id>/bookings/", station.bookings, name="lead-bookings"),
    path("lead/stations/<int:station_id>/waiting-list/", station.waiting_list, name="lead-waiting"),
    path("lead/stations/<int:station_id>/report/", station.report, name="lead-report"),
    path("lead/stations/<int:station_id>/clearances/", station.clearances, name="lead-clearances"),
    path("lead/stations/<int:station_id>/settings/", station.settings_page, name="lead-settings"),
    path("crew/inbox/", views.consent_inbox, name="inbox"),
    path("calendar/", views.calendar_link, name="calendar"),
    path("calendar/new/", views.calendar_link_new, name="calendar-new"),
    path("api-tokens/", views.api_tokens, name="api-tokens"),
]
