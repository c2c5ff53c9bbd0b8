"""The plugin tests use pytester for small inline projects."""

pytest_plugins = ["pytester"]
