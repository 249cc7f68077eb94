"""Packaging beyond pyproject.toml's metadata: the Hydra configs ship inside the wheel.

conf/ stays at the top of the repository (where users read and edit it); a wheel or a non-editable ``pip install .``
carries it as the package data ``ssgen/conf/``, which ``ssgen.config.files.CONF_DIR`` finds first.
"""

from setuptools import find_namespace_packages, find_packages, setup

setup(
    # hydra_plugins/: ssgen's sweeper, where Hydra looks for plugins (a namespace package shared with other plugins)
    packages=[*find_packages(include=["ssgen", "ssgen.*"]), "ssgen.conf",
              *find_namespace_packages(include=["hydra_plugins.ssgen_search"])],
    package_dir={"ssgen.conf": "conf"},
    package_data={"ssgen.conf": ["*.yaml", "**/*.yaml"]},
)
