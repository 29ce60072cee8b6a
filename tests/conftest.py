import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The tiny random AlphaNet of test_inference.py, saved once per session for every test file."""
    from tests.test_inference import save_tiny_alphanet

    path = tmp_path_factory.getbasetemp() / "tiny_alphanet.keras"
    if not path.exists():
        save_tiny_alphanet(path)
    return path
