"""Loaded by schemathesis before its workers start (SCHEMATHESIS_HOOKS in tests/test_fuzz.py).

Its ASGI transport imports anyio the first time a worker thread needs it; two threads doing that at once
can fail inside anyio's lazy importer on Python 3.11 ("AST constructor recursion depth mismatch"). Importing
it here, once, on the main thread, takes that race away. The run itself is unchanged.
"""

import schemathesis.transport.asgi  # noqa: F401
