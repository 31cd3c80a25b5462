"""Static files: hashed and compressed names after `collectstatic`, plain names before it (SPEC §16)."""

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """A server started without `collectstatic` still works: its pages name the files as they are,
    and WhiteNoise serves them from the app's folders, with a short cache instead of a year."""

    manifest_strict = False
    # The vendored front-end files name source maps that are not shipped; leave those comments alone.
    patterns = tuple(
        (extension, tuple(p for p in found if "sourceMappingURL" not in (p[0] if isinstance(p, tuple) else p)))
        for extension, found in CompressedManifestStaticFilesStorage.patterns
    )

    def url(self, name, force=False):
        try:
            return super().url(name, force)
        except ValueError:
            return StaticFilesStorage.url(self, name)
