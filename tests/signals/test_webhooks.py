"""Standard Webhooks signing: the signature is the specification's (computed independently
here), tampering and stale or future timestamps are refused, several signatures are accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from heron.signals import webhooks
from heron.signals.webhooks import InvalidSignature, generate_secret, sign, verify

# the example secret of the Standard Webhooks specification's test vectors
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"test": 2432232314}'


def independent(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_") :])
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_the_signature_is_the_hmac_the_specification_defines() -> None:
    for secret in (SECRET, generate_secret()):
        ts = 1_614_265_330
        assert sign(secret, MSG_ID, ts, BODY) == independent(secret, MSG_ID, ts, BODY)
        assert sign(secret, MSG_ID, ts, BODY.decode()) == independent(secret, MSG_ID, ts, BODY)
    # the specification's published vector
    assert sign(SECRET, MSG_ID, 1_614_265_330, BODY) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_headers_verify_and_a_generated_secret_has_a_32_byte_key() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(webhooks.secret_key(secret)) == 32
    assert generate_secret() != secret
    now = int(time.time())
    sent = webhooks.headers(secret, MSG_ID, now, BODY)
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    verify(secret, sent, BODY)
    verify(secret, {k.upper(): v for k, v in sent.items()}, BODY)  # header names: any case


def test_tampering_with_body_id_timestamp_or_secret_is_refused() -> None:
    now = int(time.time())
    sent = webhooks.headers(SECRET, MSG_ID, now, BODY)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, sent, BODY.replace(b"2432", b"2433"))
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, {**sent, "webhook-id": "msg_other"}, BODY)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(SECRET, {**sent, "webhook-timestamp": str(now - 1)}, BODY)
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(generate_secret(), sent, BODY)
    with pytest.raises(InvalidSignature, match="missing"):
        verify(SECRET, {k: v for k, v in sent.items() if k != "webhook-signature"}, BODY)
    with pytest.raises(InvalidSignature, match="whole number"):
        verify(SECRET, {**sent, "webhook-timestamp": "soon"}, BODY)


def test_stale_and_future_timestamps_are_refused_within_the_tolerance_accepted() -> None:
    now = time.time()
    for offset, ok in ((-301, False), (301, False), (-299, True), (299, True)):
        ts = int(now + offset)
        sent = webhooks.headers(SECRET, MSG_ID, ts, BODY)
        if ok:
            verify(SECRET, sent, BODY, now=now)
        else:
            with pytest.raises(InvalidSignature, match="too far"):
                verify(SECRET, sent, BODY, now=now)
    old = webhooks.headers(SECRET, MSG_ID, int(now) - 3600, BODY)
    verify(SECRET, old, BODY, now=now, tolerance_s=7200)


def test_one_of_several_space_separated_signatures_suffices() -> None:
    now = int(time.time())
    good = sign(SECRET, MSG_ID, now, BODY)
    other = sign(generate_secret(), MSG_ID, now, BODY)
    base = {"webhook-id": MSG_ID, "webhook-timestamp": str(now)}
    verify(SECRET, {**base, "webhook-signature": f"{other} {good}"}, BODY)
    verify(SECRET, {**base, "webhook-signature": f"v1a,xyz {good}"}, BODY)
    with pytest.raises(InvalidSignature):
        verify(SECRET, {**base, "webhook-signature": f"{other} v1,{good[3:-4]}AAA="}, BODY)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, not 5"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "not 65"),
    ],
)
def test_malformed_secrets_are_named(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sign(secret, MSG_ID, 0, BODY)


def test_the_receiver_in_the_docs_verifies_heron_s_messages() -> None:
    """The Python receiver of docs/signals.md (its verification function) accepts a message
    heron signs and refuses a tampered one."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "signals.md").read_text()
    block = next(b for b in text.split("```python\n")[1:] if "def verified" in b)
    code = block.split("```", 1)[0].split("class Hook", 1)[0]
    secret = generate_secret()
    namespace: dict = {}
    exec(code.replace('"whsec_..."', repr(secret)), namespace)
    sent = webhooks.headers(secret, MSG_ID, int(time.time()), BODY)
    assert namespace["verified"](sent, BODY) is True
    assert namespace["verified"](sent, BODY + b" ") is False
    stale = webhooks.headers(secret, MSG_ID, int(time.time()) - 600, BODY)
    assert namespace["verified"](stale, BODY) is False
