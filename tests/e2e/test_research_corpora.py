"""`karma research corpus DIR --corpus NAME`, as a user types it: the installed script, run
outside the checkout, writes the chosen corpus from the installed package and refuses a name
it does not bundle."""

from __future__ import annotations

import re

from adapters.pdf import read_pages
from tests.support.installed import karma, user_env


def test_the_corpus_command_writes_the_corpus_it_is_asked_for(tmp_path):
    env = user_env(KARMA_HOME=str(tmp_path / ".karma"))
    done = karma("research", "corpus", "vision", "--corpus", "vision", env=env, cwd=tmp_path)
    written = sorted(path.name for path in (tmp_path / "vision").glob("*.pdf"))
    assert written == ["deit.pdf", "efficientnet.pdf", "mobilenetv2.pdf", "resnet.pdf",
                       "vit.pdf"]
    assert "efficient image classification" in done.stdout
    assert len(read_pages(tmp_path / "vision" / "vit.pdf")) == 2

    refused = karma("research", "corpus", "elsewhere", "--corpus", "speech", env=env,
                    cwd=tmp_path, check=False)
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", refused.stderr).split())  # out of rich's panel
    assert refused.returncode == 2
    assert "no corpus named 'speech'; the bundled corpora are pilot, vision" in said
    assert not (tmp_path / "elsewhere").exists()
