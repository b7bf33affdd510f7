"""The suite's own rule: an unmarked test that takes too long fails, a marked one does not."""
from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")


def test_an_unmarked_test_over_the_limit_fails_and_a_marked_one_passes(pytester, monkeypatch):
    monkeypatch.setenv("HARNESS_SLOW_TEST_SECONDS", "0.01")  # at most 0.01 s x load per core
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        """
        import time
        import pytest

        def test_unmarked():
            time.sleep(1.0)

        @pytest.mark.slow
        def test_marked():
            time.sleep(1.0)

        def test_quick():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_unmarked took *make it faster or mark it @pytest.mark.slow*"])


def test_the_rule_can_be_switched_off(pytester, monkeypatch):
    monkeypatch.setenv("HARNESS_SLOW_TEST_SECONDS", "0")
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile("import time\n\ndef test_unmarked():\n    time.sleep(0.2)\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
