"""Signing in to the console through an OpenID Connect provider, in Chromium.

The provider is a real authorization server over HTTP (tests/support/oidc.py: oidc-provider-mock,
Authlib under Flask) issuing JWT access tokens signed with the key it publishes, as Keycloak does.
The services run on the embedded default but trust only that provider (`AUTH_JWKS_URL`,
`AUTH_ISSUER`, `AUTH_AUDIENCE`), and the console signs people in through it (`CONSOLE_OIDC_*`):
the authorization code flow with PKCE, the provider's access token then carried to the services.
A person whose token names no role is refused a session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from services.common.cluster import ConsoleProcess, LocalCluster
from tests.support.browser import launched

pytest.importorskip("oidc_provider_mock")

from tests.support.oidc import AUDIENCE, Provider  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

USERS = {"clerk-li": {"role": "branch_clerk", "branch": "SH01", "name": "李静"},
         "visitor": {"name": "No role"}}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider(USERS) as running:
        yield running


@pytest.fixture(scope="module")
def console(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    trust = {"AUTH_JWKS_URL": provider.url + "/jwks", "AUTH_ISSUER": provider.url, "AUTH_AUDIENCE": AUDIENCE,
             "AUTH_ALGORITHMS": "RS256"}
    with LocalCluster(tmp_path_factory.mktemp("oidc"), log_level="WARNING", env=trust) as cluster:
        with ConsoleProcess(cluster, env={
                "CONSOLE_OIDC_METADATA_URL": provider.url + "/.well-known/openid-configuration",
                "CONSOLE_OIDC_CLIENT_ID": "complaints-console", "CONSOLE_OIDC_CLIENT_SECRET": "console-secret"}) as running:
            yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched()


def sign_in(browser: Any, console: ConsoleProcess, provider: Provider, user: str) -> Any:
    context = browser.new_context(base_url=console.url, locale="zh-CN")
    page = context.new_page()
    page.goto("/inbox")
    assert "/login" in page.url
    page.get_by_role("link", name=re.compile("公司账号")).click()
    page.wait_for_url(re.compile(re.escape(provider.url) + r"/oauth2/authorize"))
    page.locator(f"button[name='sub'][value='{user}']").click()
    page.wait_for_load_state()
    return page


def test_a_person_signs_in_through_the_provider_and_the_services_accept_its_token(
        browser: Any, console: ConsoleProcess, provider: Provider) -> None:
    page = sign_in(browser, console, provider, "clerk-li")
    try:
        page.wait_for_url(re.compile(r"/inbox$"))
        assert "李静" in page.locator("header").inner_text()
        assert page.locator("h1").inner_text() == "我的待办"   # HQ answered with the provider's token
        # a registration goes through intake with that token: the form number comes back at once
        page.goto("/register?subject=policy_service")
        page.fill("[name='customer.name']", "赵女士")
        page.fill("[name='customer.phone']", "+86 21 5555 0199")
        page.fill("[name='description']", "营业所服务态度差。")
        page.get_by_role("button", name=re.compile("保存并复述")).click()
        page.wait_for_url(re.compile(r"/read-back$"))
        assert re.fullmatch(r"SH01-\d{8}-\d{4}", page.get_by_test_id("form-number").inner_text().strip())
        # signing out ends the console's session
        page.get_by_role("button", name=re.compile("退出")).click()
        page.wait_for_url(re.compile(r"/login"))
        page.goto("/inbox")
        assert "/login" in page.url
    finally:
        page.context.close()


def test_a_person_without_a_role_gets_no_session(browser: Any, console: ConsoleProcess, provider: Provider) -> None:
    page = sign_in(browser, console, provider, "visitor")
    try:
        assert "/auth/callback" in page.url
        assert page.locator("h1").inner_text() == "无权操作"
        assert "role" in page.locator("main").inner_text()
        page.goto("/inbox")
        assert "/login" in page.url
    finally:
        page.context.close()
