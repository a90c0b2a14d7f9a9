import pytest

from quotaflow.auth import Authenticator
from quotaflow.errors import AuthenticationFailed


def test_open_without_master_key():
    assert Authenticator(None).authenticate(None, None).is_admin


@pytest.mark.parametrize(
    ("authorization", "api_key"),
    [("Bearer sk-master", None), ("bearer sk-master", None), (None, "sk-master")],
)
def test_master_key_accepted_as_bearer_or_api_key(authorization, api_key):
    principal = Authenticator("sk-master").authenticate(authorization, api_key)
    assert principal.key_alias == "master"


@pytest.mark.parametrize(
    ("authorization", "api_key", "needle"),
    [
        (None, None, "No API key"),
        ("Bearer ", None, "No API key"),
        ("Bearer sk-wrong", None, "Incorrect"),
        (None, "sk-master-but-longer", "Incorrect"),
    ],
)
def test_wrong_or_missing_key_is_401(authorization, api_key, needle):
    with pytest.raises(AuthenticationFailed) as info:
        Authenticator("sk-master").authenticate(authorization, api_key)
    assert info.value.status == 401
    assert needle in info.value.message
    assert "sk-master" not in info.value.message
