"""Webhook signatures: what a receiver checks (pure logic, no services)."""

from __future__ import annotations

from shared.webhooks import sign, verify_signature

BODY = b'{"id":"e1","type":"ping"}'


def test_a_signature_verifies_with_its_secret_only():
    header = sign(["whsec_a"], BODY, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify_signature("whsec_a", header, BODY, now=1_700_000_010)
    assert not verify_signature("whsec_b", header, BODY, now=1_700_000_010)
    assert not verify_signature("whsec_a", header, BODY + b" ", now=1_700_000_010)  # the raw body, byte for byte


def test_an_old_or_future_signature_is_refused():
    header = sign(["whsec_a"], BODY, timestamp=1_700_000_000)
    assert verify_signature("whsec_a", header, BODY, tolerance_s=300, now=1_700_000_300)
    assert not verify_signature("whsec_a", header, BODY, tolerance_s=300, now=1_700_000_301)
    assert not verify_signature("whsec_a", header, BODY, tolerance_s=300, now=1_699_999_699)


def test_two_secrets_sign_during_a_rotation():
    header = sign(["whsec_new", "whsec_old"], BODY, timestamp=1_700_000_000)
    assert header.count("v1=") == 2
    assert verify_signature("whsec_new", header, BODY, now=1_700_000_000)
    assert verify_signature("whsec_old", header, BODY, now=1_700_000_000)


def test_malformed_headers_are_refused():
    for header in ("", "v1=abc", "t=notanumber,v1=abc", "t=1700000000", "garbage"):
        assert not verify_signature("whsec_a", header, BODY, now=1_700_000_000)
