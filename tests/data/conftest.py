import pytest


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    """A throw-away $INITSTATE_CACHE for a whole test module, never the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INITSTATE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
