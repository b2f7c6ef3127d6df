"""The kernel credential: who may present the secret, from where, and what the URL looks like."""

from __future__ import annotations

import pytest

from jupyter_sente.jupyter.kernel_auth import (
    KernelOutcome,
    check_kernel_request,
    is_loopback,
    kernel_credential,
    loopback_url,
    new_secret,
    owner_username,
)

SECRET = "s3cret-value"
GOOD = {"authorization": f"SenteKernel {SECRET}", "host": "127.0.0.1:8888"}


def check(headers: dict[str, str] = GOOD, ip: str | None = "127.0.0.1", cid: str = "kernel-1"):
    return check_kernel_request(secret=SECRET, headers=headers, remote_ip=ip, client_id=cid)


def test_a_kernel_on_loopback_with_the_secret_is_accepted() -> None:
    assert check().outcome is KernelOutcome.ACCEPTED
    assert check(ip="::1").outcome is KernelOutcome.ACCEPTED
    assert check(ip="::ffff:127.0.0.1").outcome is KernelOutcome.ACCEPTED


def test_requests_without_the_kernel_scheme_are_left_to_jupyter() -> None:
    for auth in (None, "token abc", "Bearer abc", f"token {SECRET}"):
        headers = {} if auth is None else {"authorization": auth}
        assert check(headers).outcome is KernelOutcome.ABSENT


@pytest.mark.parametrize("ip", ["10.0.0.5", "192.168.1.20", "2001:db8::1", "", None, "nonsense"])
def test_the_secret_is_refused_from_a_non_loopback_address(ip: str | None) -> None:
    result = check(ip=ip)
    assert result.outcome is KernelOutcome.REFUSED
    assert "loopback" in result.reason


@pytest.mark.parametrize(
    "extra",
    [
        {"origin": "http://127.0.0.1:8888"},
        {"cookie": "_xsrf=1"},
        {"referer": "http://127.0.0.1:8888/lab"},
        {"sec-fetch-site": "same-origin"},
        {"x-forwarded-for": "203.0.113.9"},
        {"forwarded": "for=203.0.113.9"},
        {"x-real-ip": "203.0.113.9"},
    ],
)
def test_the_secret_is_refused_on_a_browser_or_proxied_request(extra: dict[str, str]) -> None:
    result = check({**GOOD, **extra})
    assert result.outcome is KernelOutcome.REFUSED
    assert "browser or proxy" in result.reason


def test_the_secret_is_refused_for_a_client_id_that_is_not_a_kernel() -> None:
    result = check(cid="3f1c-tab")
    assert result.outcome is KernelOutcome.REFUSED
    assert "kernel-" in result.reason


def test_a_wrong_or_disabled_secret_is_refused_without_showing_it() -> None:
    wrong = check({"authorization": "SenteKernel nope"})
    assert wrong.outcome is KernelOutcome.REFUSED and "restart the kernel" in wrong.reason
    disabled = check_kernel_request(
        secret=None, headers=GOOD, remote_ip="127.0.0.1", client_id="kernel-1"
    )
    assert disabled.outcome is KernelOutcome.REFUSED
    for result in (wrong, disabled, check(ip="10.0.0.1"), check(cid="tab")):
        assert SECRET not in result.reason and "nope" not in result.reason


def test_credential_parsing() -> None:
    assert kernel_credential("SenteKernel abc") == "abc"
    assert kernel_credential("  sentekernel   abc  ") == "abc"
    assert kernel_credential("SenteKernel ") is None
    assert kernel_credential("token abc") is None
    assert kernel_credential(None) is None


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.10") and is_loopback("::1")
    assert is_loopback("fe80::1%lo") is False
    assert not is_loopback("10.0.0.1") and not is_loopback(None) and not is_loopback("x")


@pytest.mark.parametrize(
    ("ip", "host"),
    [
        ("", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("::", "[::1]"),
        ("::1", "[::1]"),
        ("10.1.2.3", "10.1.2.3"),
        ("2001:db8::5", "[2001:db8::5]"),
    ],
)
def test_the_kernel_url_is_on_loopback_when_the_server_listens_there(ip: str, host: str) -> None:
    assert loopback_url(ip, 8888, "/a%40b/") == f"http://{host}:8888/a%40b/sente/chsk"


def test_the_kernel_url_keeps_the_base_url_and_scheme() -> None:
    assert loopback_url("", 9000, "/") == "http://127.0.0.1:9000/sente/chsk"
    assert (
        loopback_url("", 9000, "/user/ann", tls=True)
        == "https://127.0.0.1:9000/user/ann/sente/chsk"
    )


def test_owner_is_the_hub_user_else_the_account() -> None:
    assert owner_username({"JUPYTERHUB_USER": "ann"}) == "ann"
    assert owner_username({}) != ""


def test_secrets_are_fresh_and_long() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and len(a) >= 40
