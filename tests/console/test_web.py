"""Where the console sends a person after signing in (services/console/entrypoints/web.py `safe_next`): a
path of this site is kept; anything else (another host, a scheme, `//`, a backslash, whitespace a URL parser
drops, a relative path) goes to the inbox, so the `next` parameter is no open redirect."""

from __future__ import annotations

import pytest

from services.console.entrypoints.web import safe_next


@pytest.mark.parametrize("url", [
    "/complaints/SH01-2026-0001?y=1", "/inbox", "/complaints/X?y=1#events", "/search?q=%2F%2Fevil.example",
    "/complaints/X/steps/routing/memo?target=3f1c2b4a-1111-4222-8333-444455556666",
])
def test_a_path_of_this_site_is_kept(url: str) -> None:
    assert safe_next(url) == url


@pytest.mark.parametrize("url", [
    None, "", "//evil.example", "//evil.example/inbox", "https://evil.example/x", "http:/evil.example",
    "/\\evil.example", "\\\\evil.example", "javascript:alert(1)", "JavaScript:alert(1)", "inbox",
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", " //evil.example", "evil.example/inbox",
    "data:text/html,<script>alert(1)</script>",
])
def test_any_other_target_goes_to_the_inbox(url: str | None) -> None:
    assert safe_next(url) == "/inbox"
