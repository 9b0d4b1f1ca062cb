"""course_utils.data: the registry, verified and atomic fetch, mirror handling, loaders."""
import hashlib
import http.server
import os
import threading
import urllib.error
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from course_utils import data

SMALL = "text/readme.txt"  # 1 KB: quick to move around


def _no_downloads(monkeypatch):
    """Make every canonical URL unreachable, as on a machine without internet."""
    def unreachable(url):
        def blocks():
            raise urllib.error.URLError("Name or service not known (simulated offline)")
            yield  # pragma: no cover
        return blocks
    monkeypatch.setattr(data, "_url_blocks", unreachable)


def _leftovers(folder):
    return [p.name for p in folder.rglob("*") if p.is_file() and p.name.endswith(".part")]


def test_registry_entries_are_complete():
    assert len(data.REGISTRY) >= 24
    for name, entry in data.REGISTRY.items():
        assert entry.path == name
        assert len(entry.sha256) == 64 and int(entry.sha256, 16) >= 0
        assert entry.url.startswith("https://") and entry.size > 0 and entry.license
    assert "torch_hub/checkpoints/resnet18-f37072fd.pth" in data.REGISTRY


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        data.REGISTRY["x"] = None


def test_fetch_from_mirror_folder(empty_cache, mirror_dir, monkeypatch):
    _no_downloads(monkeypatch)
    path = data.fetch(SMALL)
    assert path == empty_cache / SMALL
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data.REGISTRY[SMALL].sha256


def test_fetch_from_mirror_url(empty_cache, mirror_dir, monkeypatch):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("COURSE_DATA_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
        assert data.fetch(SMALL).read_bytes() == (mirror_dir / SMALL).read_bytes()
    finally:
        server.shutdown()


def test_sha_mismatch_in_mirror_is_rejected(empty_cache, tmp_path, monkeypatch):
    fake = tmp_path / "fake_mirror"
    (fake / "text").mkdir(parents=True)
    (fake / SMALL).write_bytes(b"not the real readme")
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(fake))
    _no_downloads(monkeypatch)
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch(SMALL)
    message = str(info.value)
    assert "sha256 mismatch" in message and SMALL in message and "COURSE_DATA_MIRROR" in message
    assert not (empty_cache / SMALL).exists()
    assert _leftovers(empty_cache) == []


def test_corrupted_cache_is_fetched_again(empty_cache, mirror_dir, capsys):
    path = data.fetch(SMALL)
    path.write_bytes(b"corrupted")
    again = data.fetch(SMALL)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == data.REGISTRY[SMALL].sha256
    assert "corrupted" in capsys.readouterr().out


def test_offline_without_mirror_names_file_url_and_variable(empty_cache, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    _no_downloads(monkeypatch)
    with pytest.raises(data.DataUnavailableError) as info:
        data.fetch(SMALL)
    message = str(info.value)
    assert SMALL in message and data.REGISTRY[SMALL].url in message and "COURSE_DATA_MIRROR" in message


def test_interrupted_download_leaves_no_file(empty_cache, monkeypatch):
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)

    def breaks_halfway(url):
        def blocks():
            yield b"x" * 100
            raise OSError("connection reset (simulated)")
        return blocks

    monkeypatch.setattr(data, "_url_blocks", breaks_halfway)
    with pytest.raises(data.DataUnavailableError, match="connection reset"):
        data.fetch(SMALL)
    assert not (empty_cache / SMALL).exists()
    assert _leftovers(empty_cache) == []


def test_unknown_name_lists_known_ones():
    with pytest.raises(KeyError) as info:
        data.fetch("mnist/not-a-file.gz")
    assert "not-a-file" in str(info.value) and "tabular/adult.data" in str(info.value)


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.cache_dir() == tmp_path.resolve()


def test_resnet_weights_missing_offline_names_the_mirror(empty_cache, mirror_dir, monkeypatch):
    from course_utils import load_pretrained

    _no_downloads(monkeypatch)
    with pytest.raises(data.DataUnavailableError) as info:
        load_pretrained("resnet18_imagenet")
    message = str(info.value)
    assert "torch_hub/checkpoints/resnet18-f37072fd.pth" in message and "COURSE_DATA_MIRROR" in message


def test_an_unavailable_large_file_draws_no_progress_bar(empty_cache, mirror_dir, monkeypatch, capsys):
    # Offline, ResNet-18's 47 MB weights are in neither the mirror nor reachable: the learner must see
    # the one message, not a download bar stuck at 0% per source tried (tqdm writes to stderr).
    _no_downloads(monkeypatch)
    name = "torch_hub/checkpoints/resnet18-f37072fd.pth"
    assert data.REGISTRY[name].size > 2 * data._CHUNK  # large enough for a bar
    with pytest.raises(data.DataUnavailableError):
        data.fetch(name)
    captured = capsys.readouterr()
    assert "%" not in captured.err and "%" not in captured.out, captured.err


def test_a_large_file_that_arrives_still_streams_whole(empty_cache, monkeypatch, tmp_path):
    # The first block is read before the bar is drawn; it must still be written, and checked.
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    payload = os.urandom(3 * data._CHUNK + 5)
    entry = data.DataFile(path="x/big.bin", size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
                          url="file:///nowhere", license="test")
    target = tmp_path / "big.bin"
    chunks = [payload[i:i + data._CHUNK] for i in range(0, len(payload), data._CHUNK)]
    data._stream_to(lambda: iter(chunks), target, entry, "test")
    assert target.read_bytes() == payload


@pytest.mark.usefixtures("mirror_dir")
def test_mnist_loader_shapes_and_range():
    dataset = data.mnist("test")
    image, label = dataset[0]
    assert len(dataset) == 10_000 and tuple(image.shape) == (1, 28, 28) and 0 <= image.min() <= image.max() <= 1
    X, y = data.mnist_tensors("test", n=50)
    assert tuple(X.shape) == (50, 1, 28, 28) and int(y[0]) == label
    with pytest.raises(ValueError, match="split must be one of"):
        data.mnist("validation")


@pytest.mark.usefixtures("mirror_dir")
@pytest.mark.parametrize("loader, rows, target", [
    (data.adult, 30162, "income_gt_50k"), (data.pima, 768, "diabetes"), (data.law_school, 21791, "ZFYA"),
    (data.german_credit, 1000, "good_credit"), (data.compas, 6172, "two_year_recid"),
])
def test_tabular_loaders(loader, rows, target):
    table = loader()
    assert len(table.frame) == rows and table.target == target and table.target not in table.features
    X, categories = table.encoded()
    assert X.shape == (rows, len(table.features)) and np.isfinite(X).all()
    assert set(categories) == {table.features.index(c) for c in table.categorical}


@pytest.mark.usefixtures("mirror_dir")
def test_sentiment_and_photo_loaders():
    sentences = data.sentiment()
    assert len(sentences) == 3000 and set(sentences.label) == {0, 1}
    assert set(sentences.source) == {"imdb", "amazon", "yelp"}
    image = data.photo("cat_dog")
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    with pytest.raises(ValueError, match="cat_dog"):
        data.photo("unicorn")


@pytest.mark.usefixtures("mirror_dir")
def test_test_table_encoded_with_training_codes():
    train, test = data.adult("train"), data.adult("test")
    X_train, categories = train.encoded()
    X_test, same = test.encoded(categories)
    country = train.features.index("native_country")
    assert same == categories
    united_states = categories[country].index("United-States")
    assert (X_test[:, country] == united_states).mean() == pytest.approx((test.frame.native_country == "United-States").mean())
    assert "Holand-Netherlands" not in set(test.frame.native_country)  # why a separate encoding would shift codes
    with pytest.raises(ValueError, match="native_country"):
        test.encoded({**categories, country: ["United-States"]})


def test_a_relative_mirror_is_resolved_against_the_working_folder_then_the_clone(tmp_path, monkeypatch):
    (tmp_path / "mirror").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURSE_DATA_MIRROR", "mirror")
    assert data.mirror_folder() == (tmp_path / "mirror").resolve()
    monkeypatch.setenv("COURSE_DATA_MIRROR", "notebooks")  # not here, but a folder of the clone (a kernel's cwd)
    assert data.mirror_folder() == (data._REPO_ROOT / "notebooks").resolve()
    monkeypatch.setenv("COURSE_DATA_MIRROR", "../no/such/folder")
    with pytest.raises(data.DataUnavailableError, match="is a relative path.*Set it to an absolute path"):
        data.mirror_folder()
    monkeypatch.setenv("COURSE_DATA_MIRROR", "https://example.org/data")
    assert data.mirror_folder() is None  # a URL is not a folder


def test_missing_data_gives_one_clear_message(tmp_path, monkeypatch, empty_cache):
    import urllib.request

    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path))  # an empty folder
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(data.DataUnavailableError, match="(?s)The course.s data cannot be reached.*Set COURSE_DATA_MIRROR"):
        data.check_data_available()


def test_the_test_session_stops_with_that_message_when_data_is_missing(tmp_path):
    import subprocess
    import sys

    root = data._REPO_ROOT
    env = {**os.environ, "COURSE_DATA_MIRROR": str(tmp_path / "empty"), "COURSE_DATA_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(root)}
    (tmp_path / "empty").mkdir()
    # an offline machine: sitecustomize makes every download fail at once
    (tmp_path / "offline").mkdir()
    (tmp_path / "offline" / "sitecustomize.py").write_text(
        "import urllib.request\n"
        "def _offline(*a, **k):\n    raise OSError('offline')\n"
        "urllib.request.urlopen = _offline\n")
    env["PYTHONPATH"] = f"{tmp_path / 'offline'}{os.pathsep}{root}"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-o", "addopts=",
                             "tests/test_validation.py"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stdout.count("The course's data cannot be reached") + result.stderr.count(
        "The course's data cannot be reached") == 1
    assert "COURSE_DATA_MIRROR" in result.stdout + result.stderr and "passed" not in result.stdout


def _run_in_notebook_kernel(code: str, env: dict) -> tuple[str, list]:
    """Run ``code`` in a python3 kernel started as JupyterLab starts one (cwd notebooks/): status, messages."""
    from jupyter_client.manager import start_new_kernel

    outputs: list = []
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(data._REPO_ROOT / "notebooks"), env=env)
    try:
        reply = client.execute_interactive(code, timeout=120, output_hook=outputs.append)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return reply["content"]["status"], outputs


def test_a_relative_mirror_set_in_the_clone_works_in_a_notebook_kernel(tmp_path, mirror_dir):
    """A learner sets COURSE_DATA_MIRROR relative to the clone, then opens a notebook (kernel cwd: notebooks/)."""
    relative = os.path.relpath(mirror_dir.resolve(), data._REPO_ROOT)
    env = {**os.environ, "COURSE_DATA_MIRROR": relative, "COURSE_DATA_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(data._REPO_ROOT)}
    smallest = min(data.REGISTRY.values(), key=lambda entry: entry.size).path
    status, outputs = _run_in_notebook_kernel(
        "import os, urllib.request\n"
        "def offline(*a, **k):\n    raise OSError('offline')\n"
        "urllib.request.urlopen = offline\n"
        "from course_utils import data\n"
        f"print(os.getcwd(), data.mirror_folder(), data.fetch({smallest!r}), sep='|')\n", env)
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    assert status == "ok", outputs
    cwd, folder, fetched = text.strip().split("|")
    assert Path(cwd) == data._REPO_ROOT / "notebooks" and not (Path(cwd) / relative).is_dir()
    assert Path(folder) == mirror_dir.resolve() and Path(fetched) == tmp_path / "cache" / smallest


def test_a_relative_mirror_that_is_nowhere_is_rejected_in_a_notebook_kernel(tmp_path):
    env = {**os.environ, "COURSE_DATA_MIRROR": "no/such/mirror", "COURSE_DATA_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(data._REPO_ROOT)}
    status, outputs = _run_in_notebook_kernel("from course_utils import data\ndata.mirror_folder()\n", env)
    errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert status == "error" and errors[0]["ename"] == "DataUnavailableError"
    assert "'no/such/mirror' is a relative path" in errors[0]["evalue"] and "absolute path" in errors[0]["evalue"]
