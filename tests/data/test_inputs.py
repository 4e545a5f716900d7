"""Images named by input=: a glob's `**` through links to folders finds each real file once, and ends."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnnexp.data.inputs import find_images


class Endless(Exception):
    pass


def _endless(signum: int, frame: object) -> None:
    raise Endless("the walk did not end")


@pytest.fixture(autouse=True)
def ends() -> Iterator[None]:
    """A walk that never ends fails its test instead of hanging the suite (not a timing: 300 s is forever here)."""
    before = signal.signal(signal.SIGALRM, _endless)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, before)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """d/a.png, d/sub/b.png, d/.hidden/c.png and e/e.png, with d/sub/to_e -> e; names only (nothing is decoded)."""
    monkeypatch.chdir(tmp_path)
    for name in ("d/a.png", "d/sub/b.png", "d/.hidden/c.png", "e/e.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    os.symlink("../../e", tmp_path / "d" / "sub" / "to_e")
    return tmp_path


def test_a_link_to_the_folder_itself_or_a_parent_gives_each_file_once(tree: Path) -> None:
    os.symlink("..", tree / "d" / "sub" / "up")  # glob.glob itself gives d/a.png 41 times through these
    os.symlink(".", tree / "d" / "me")
    expected = [Path("d/a.png"), Path("d/sub/b.png"), Path("d/sub/to_e/e.png")]
    assert find_images("d/**/*.png") == expected
    assert find_images("d/**") == expected  # `**` last: every file below
    assert find_images(f"{tree}/d/**/*.png") == [tree / p for p in expected]
    assert find_images("[d]/**/sub/**/[be].png") == expected[1:]  # a second `**`, and a magic first part
    assert find_images("**/*.png") == [Path("d/a.png"), Path("d/sub/b.png"), Path("e/e.png")]  # e by its own name


def test_a_folder_reached_by_its_name_and_by_a_link_is_listed_by_its_name(tree: Path) -> None:
    os.symlink("sub", tree / "d" / "a_link")  # sorts before sub: the real folder still wins
    assert find_images("d/**/b.png") == [Path("d/sub/b.png")]


def test_two_links_back_do_not_make_the_walk_endless(tree: Path) -> None:
    os.symlink("..", tree / "d" / "sub" / "up")
    os.symlink("..", tree / "d" / "sub" / "up_again")  # glob.glob's walk doubles at every level: it never ends
    assert find_images("d/**/*.png") == [Path("d/a.png"), Path("d/sub/b.png"), Path("d/sub/to_e/e.png")]


def test_a_folder_or_a_plain_glob_gives_each_real_file_once_too(tree: Path) -> None:
    os.symlink("a.png", tree / "d" / "z_same.png")
    assert find_images("d") == [Path("d/.hidden/c.png"), Path("d/a.png"), Path("d/sub/b.png")]
    assert find_images("d/*.png") == [Path("d/a.png")]
