"""Connection keys encrypted at rest: tokens, the server key file and variable, hints."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from heron.evals.secrets import (
    ENV_VAR,
    KEY_FILE,
    InvalidSecret,
    decrypt,
    encrypt,
    hint,
    load_or_create_key,
    server_key,
)

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_round_trip() -> None:
    for text in ("sk-proj-abc123", "", "ключ 🔑 with spaces", "x" * 10_000):
        token = encrypt(text, KEY)
        assert token.startswith("v1:")
        assert text not in token or not text
        assert decrypt(token, KEY) == text


def test_each_token_has_its_own_nonce() -> None:
    tokens = {encrypt("same", KEY) for _ in range(20)}
    assert len(tokens) == 20


def test_tampering_is_detected() -> None:
    token = encrypt("sk-secret", KEY)
    body = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    for i in (0, 12, len(body) - 1):  # nonce, ciphertext, tag
        altered = bytearray(body)
        altered[i] ^= 1
        forged = "v1:" + base64.urlsafe_b64encode(bytes(altered)).decode().rstrip("=")
        with pytest.raises(InvalidSecret):
            decrypt(forged, KEY)


def test_wrong_key_or_row() -> None:
    token = encrypt("sk-secret", KEY, associated="connection:1")
    assert decrypt(token, KEY, associated="connection:1") == "sk-secret"
    with pytest.raises(InvalidSecret, match="does not decrypt"):
        decrypt(token, OTHER, associated="connection:1")
    with pytest.raises(InvalidSecret):
        decrypt(token, KEY, associated="connection:2")
    with pytest.raises(InvalidSecret):
        decrypt(token, KEY)


@pytest.mark.parametrize("token", ["", "sk-plaintext", "v2:AAAA", "v1:", "v1:!!!!", "v1:AAAA"])
def test_not_a_token(token: str) -> None:
    with pytest.raises(InvalidSecret):
        decrypt(token, KEY)


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt("x", b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        decrypt(encrypt("x", KEY), KEY + b"!")


def test_key_file_is_created_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / KEY_FILE
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_text()) == key
    assert load_or_create_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no temporary left behind


def test_concurrent_creators_agree(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        keys.append(load_or_create_key(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    code = (
        "import sys; from pathlib import Path; from heron.evals.secrets import load_or_create_key;"
    )
    code += "sys.stdout.write(load_or_create_key(Path(sys.argv[1])).hex())"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "p.key")], stdout=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    assert len({p.communicate()[0] for p in procs}) == 1


def test_a_damaged_key_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("not base64 at all!")
    with pytest.raises(ValueError, match="not base64"):
        load_or_create_key(path)
    path.write_text(base64.b64encode(b"16 bytes only!!!").decode())
    with pytest.raises(ValueError, match="32 bytes"):
        load_or_create_key(path)


def test_server_key_prefers_the_environment(tmp_path: Path) -> None:
    env_key = os.urandom(32)
    assert server_key(tmp_path, {ENV_VAR: base64.b64encode(env_key).decode()}) == env_key
    assert server_key(tmp_path, {ENV_VAR: base64.urlsafe_b64encode(env_key).decode()}) == env_key
    assert not (tmp_path / KEY_FILE).exists()
    file_key = server_key(tmp_path, {ENV_VAR: "  "})
    assert (tmp_path / KEY_FILE).exists() and server_key(tmp_path, {}) == file_key
    with pytest.raises(ValueError, match=ENV_VAR):
        server_key(tmp_path, {ENV_VAR: base64.b64encode(b"too short").decode()})


def test_hint() -> None:
    assert hint("sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz") == "sk-proj-…WxYz"
    assert hint("sk-1234567890abcdefghij") == "sk-…ghij"
    assert hint("0123456789abcdef0123") == "…0123"
    assert hint("sk-short") == "sk-…"
    assert hint("sk-test-abcdef-1234") == "sk-…1234"  # letter groups are not all a prefix
    assert hint("") == ""
    secret = "sk-ant-api03-" + "Q" * 40 + "tail"
    assert hint(secret) == "sk-ant-…tail"
