"""Help and wrong options of the commands that act on the server itself: help renders, a wrong option is one line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shipshape.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["serve"], ["admin", "reset-password"]])
def test_help_renders(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], prog_name="shipshape")
    assert result.exit_code == 0, result.output
    assert "Usage: shipshape" in result.output


def test_serve_help_shows_the_s3_form_with_its_brackets() -> None:
    assert (
        "s3://BUCKET[/PREFIX]"
        in runner.invoke(app, ["serve", "--help"], terminal_width=200, prog_name="shipshape").output
    )


@pytest.mark.parametrize("command", [["serve"], ["admin", "reset-password"]])
def test_a_wrong_option_is_one_line_and_exit_1(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--bogus"], prog_name="shipshape")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"shipshape: No such option: --bogus (see `shipshape {' '.join(command)} --help`)"
    ]
