"""Whose language a page, an API answer, an e-mail or a feed is written in (SPEC §20).

Pages: a `?lang=` choice (kept in a cookie, and as the person's language when signed in), else the
person's language, else the cookie, else `Accept-Language`, else `LANGUAGE_CODE`. API answers:
`Accept-Language`, else the person's language. E-mails and feeds: their reader's language.
"""

from contextlib import contextmanager

from django.conf import settings
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme


def supported(code) -> str | None:
    """The offered language `code` names, or None."""
    codes = dict(settings.LANGUAGES)
    return code if isinstance(code, str) and code in codes else None


def language_of(person) -> str:
    """The language to write to this person in: theirs, else the site's default."""
    profile = getattr(person, "profile", None) if person is not None else None
    return supported(getattr(profile, "language", None)) or settings.LANGUAGE_CODE


@contextmanager
def writing_to(person):
    """Render what is inside (an e-mail, a feed) in `person`'s language."""
    with translation.override(language_of(person)):
        yield


def from_request(request) -> str:
    """The page language for a request whose reader has set none: the cookie, `Accept-Language`, the default."""
    return translation.get_language_from_request(request)


def from_accept_language(request) -> str | None:
    header = request.META.get("HTTP_ACCEPT_LANGUAGE")
    if not header:
        return None
    for code, _quality in translation.trans_real.parse_accept_lang_header(header):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return None


def other_languages(current: str) -> list[tuple[str, str]]:
    """The header's switch: the languages this page is not in, each named in itself."""
    return [(code, name) for code, name in settings.LANGUAGES if code != current]


def switch(request) -> dict:
    """A context processor: the page's language and links to this same page in the others."""
    current = translation.get_language() or settings.LANGUAGE_CODE
    query = request.GET.copy()
    links = []
    for code, name in other_languages(current):
        query["lang"] = code
        links.append({"code": code, "name": name, "url": f"{request.path}?{query.urlencode()}"})
    return {"page_language": current, "language_links": links}


def safe_next(request, url: str | None, default: str = "/") -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def api_language(request, person) -> None:
    """For token-authenticated API calls, which the middleware cannot see: the person's language unless
    the request names one with `Accept-Language`."""
    if from_accept_language(request) is None:
        language = language_of(person)
        translation.activate(language)
        request.LANGUAGE_CODE = language
