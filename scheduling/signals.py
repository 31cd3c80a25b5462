"""Every user has a profile, however the user was made (`createsuperuser`, the admin, a script)."""

import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Profile


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="ridealong-profile-for-every-user")
def make_profile(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        Profile.objects.get_or_create(user=instance)


@receiver(user_logged_in, dispatch_uid="ridealong-remember-sign-in-time")
def remember_sign_in_time(sender, request, user, **kwargs):
    # Making an API token asks for a recent sign-in (SPEC §12): a session left open is not enough.
    if request is not None and hasattr(request, "session"):
        request.session["signed_in_at"] = int(time.time())
