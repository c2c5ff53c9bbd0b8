"""Placeholder: the plugin is built in issue 4."""
