"""Shared pieces of the hostile test suites (tests/test_hostile_*.py)."""
import re

import pytest


def refused(error_type, *culprits):
    """pytest.raises(error_type) whose message must name every culprit (plain text)."""
    pattern = "".join(f"(?=.*{re.escape(str(c))})" for c in culprits)
    return pytest.raises(error_type, match=re.compile(pattern, re.S))
