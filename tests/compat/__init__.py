"""Lithops 3 usage as its documentation and its users write it (a package: its conftest is
``compat.conftest``, apart from the other suites' ``conftest`` modules)."""
