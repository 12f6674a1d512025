import pytest
from cryptography.fernet import Fernet

from frontdesk.channels.webchat import SessionSigner
from frontdesk.errors import AuthError, ConfigError
from frontdesk.security.secrets import SecretBox, load_secret_box
from frontdesk.settings import Settings


def test_round_trip_and_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).encrypt_json({"auth_token": "s3cret"})
    assert "s3cret" not in token
    rotated = SecretBox([new, old]).rotate(token)
    assert SecretBox([new]).decrypt_json(rotated) == {"auth_token": "s3cret"}


def test_wrong_key_is_a_clear_error() -> None:
    token = SecretBox([Fernet.generate_key().decode()]).encrypt_json({"a": 1})
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        SecretBox([Fernet.generate_key().decode()]).decrypt_json(token)


def test_embedded_key_is_generated_once_beside_the_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/fd.db", secret_key="")
    first = load_secret_box(settings).encrypt_json({"x": "y"})
    key_file = tmp_path / "fd.db.secret"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_secret_box(settings).decrypt_json(first) == {"x": "y"}


def test_postgres_requires_a_key() -> None:
    with pytest.raises(ConfigError, match="FRONTDESK_SECRET_KEY must be set"):
        load_secret_box(Settings(database_url="postgresql+psycopg://u@h/db", secret_key=""))


def test_webchat_session_is_bound_to_its_channel() -> None:
    signer = SessionSigner(b"k" * 32)
    visitor, token = signer.new_session("web-a")
    assert signer.visitor("web-a", token) == visitor
    with pytest.raises(AuthError):
        signer.visitor("web-b", token)
    with pytest.raises(AuthError):
        signer.visitor("web-a", token[:-2] + "xx")


@pytest.mark.parametrize("forged", ["v_1.é", "é.abc", "v_1.\udcff", "\ud800.abc", "v_1.\x00"])
def test_webchat_session_not_ascii_is_refused_as_any_bad_session(forged: str) -> None:
    # Found by the OpenAPI fuzz test: a non-ASCII session reached hmac.compare_digest (TypeError: 500).
    signer = SessionSigner(b"k" * 32)
    with pytest.raises(AuthError):
        signer.visitor("web-a", forged)
