from django.urls import path

from . import views

app_name = "web"
urlpatterns = [
    path("bookings/<int:pk>/", views.booking_detail, name="booking"),
]
