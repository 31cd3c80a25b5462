"""Sign in with your organisation account (SPEC §12): the redirect to the provider, the callback, sign-out."""

import logging

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from .. import sso
from .language import after_sign_in

logger = logging.getLogger(__name__)
BACKEND = "scheduling.auth.ThrottledModelBackend"
NO_MATCH = {
    "unknown": _(
        "Your organisation account is not linked to a Ridealong account yet. Ask a Ridealong admin to "
        "add you with the e-mail address (or staff number) your organisation holds for you."
    ),
    "deactivated": _("Your Ridealong account has been deactivated. Ask a Ridealong admin if you think this is wrong."),
    "ambiguous": _("More than one Ridealong account matches your organisation account. Ask a Ridealong admin."),
    "no_claim": _("Your organisation did not say who you are in a way Ridealong can use. Ask a Ridealong admin."),
    "unverified": _(
        "Your organisation has not confirmed your e-mail address, so Ridealong cannot tell who you are. "
        "Ask your organisation to verify it, or ask a Ridealong admin."
    ),
    "bound_elsewhere": _(
        "Your Ridealong account is linked to a different organisation account. "
        "Sign in with that account, or ask a Ridealong admin."
    ),
    "wrong_subject": _("Your organisation's answer about who you are did not match. Please start again."),
}


def authenticate(request):
    if not sso.enabled():
        return render(request, "web/not_found.html", status=404)
    return sso.client().authorize_redirect(request, sso.redirect_uri())


def callback(request):
    if not sso.enabled():
        return render(request, "web/not_found.html", status=404)
    try:
        # Checks state, exchanges the code (with the PKCE verifier) and validates the ID token and its nonce.
        token = sso.client().authorize_access_token(request)
        claims = sso.claims_for(token)
        person = sso.person_for(claims, sso.issuer())
    except sso.NoMatch as missing:
        status = 403
        return render(request, "web/sso_refused.html", {"detail": NO_MATCH[missing.reason]}, status=status)
    except Exception as error:  # noqa: BLE001 - any failed check (state, code, signature, audience, expiry)
        logger.warning("organisation sign-in refused: %s", type(error).__name__)
        return render(
            request,
            "web/sso_refused.html",
            {"detail": _("The sign-in could not be completed, or the link was used already. Please start again.")},
            status=400,
        )
    login(request, person, backend=BACKEND)
    # Kept for signing out at the provider too.
    request.session["oidc_id_token"] = token.get("id_token", "")
    return redirect(after_sign_in(person, reverse("web:home")))


@require_POST
def sign_out(request):
    id_token = request.session.get("oidc_id_token")
    logout(request)
    if id_token and sso.enabled():
        url = sso.end_session_url(id_token)
        if url:
            return redirect(url)
    return redirect("web:login")


class SignInView(auth_views.LoginView):
    """The password form (unless PASSWORD_SIGN_IN=none) and, where configured, the organisation button."""

    template_name = "web/login.html"
    redirect_authenticated_user = True

    def get_success_url(self):
        return after_sign_in(self.request.user, super().get_success_url())

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs, sso_enabled=sso.enabled(), password_sign_in=settings.PASSWORD_SIGN_IN)
