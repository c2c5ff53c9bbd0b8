"""The plugin tests use pytester (enabled for the whole run in pyproject: -p pytester)."""
