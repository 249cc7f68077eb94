"""Packaging beyond pyproject.toml's metadata: the Hydra configs ship inside the wheel.

conf/ stays at the top of the repository (where users read and edit it); a wheel or a non-editable ``pip install .``
carries it as the package data ``ssgen/conf/``, which ``ssgen.config.files.CONF_DIR`` finds first.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["ssgen", "ssgen.*"]), "ssgen.conf"],
    package_dir={"ssgen.conf": "conf"},
    package_data={"ssgen.conf": ["*.yaml", "**/*.yaml"]},
)
