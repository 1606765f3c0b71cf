import os

import pytest

from pipeline.errors import ModelIntegrityError
from pipeline.ops import signing

KEY = b"k" * 40


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / "model"
    (folder / "code" / "pipeline").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "code" / "pipeline" / "x.py").write_text("X = 1\n")
    (folder / "weights.pt").write_bytes(os.urandom(64))
    return folder


def test_a_signature_covers_every_file_and_its_name(model):
    signature = signing.sign(model, KEY)
    assert signature.startswith("hmac-sha256-v1:") and signing.manifest(model).count("\n") == 3
    signing.verify(model, signature, "m", KEY)
    (model / signing.DOWNLOAD_META).write_text("model_name: m\n")  # written by MLflow after a download
    signing.verify(model, signature, "m", KEY)
    for change in (lambda: (model / "code" / "pipeline" / "x.py").write_text("X = 2\n"),
                   lambda: (model / "code" / "pipeline" / "y.py").write_text(""),
                   lambda: (model / "weights.pt").rename(model / "weights2.pt")):
        change()
        with pytest.raises(ModelIntegrityError, match="m: its files do not match its signature"):
            signing.verify(model, signature, "m", KEY)


def test_another_key_or_no_signature_is_refused(model):
    with pytest.raises(ModelIntegrityError, match="signed with another key"):
        signing.verify(model, signing.sign(model, b"o" * 40), "m", KEY)
    with pytest.raises(ModelIntegrityError, match="m carries no signature"):
        signing.verify(model, None, "m", KEY)


def test_a_link_in_a_model_is_refused(model):
    (model / "code" / "link.py").symlink_to("/etc/hostname")
    with pytest.raises(ModelIntegrityError, match=r"link\.py is not a regular file"):
        signing.sign(model, KEY)
