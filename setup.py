"""What pyproject.toml cannot say: the repository's conf/ ships inside the wheel as the package data cnnexp/conf.

conf/ stays at the top of the repository, where users look for the config groups; setuptools maps the
package name `cnnexp.conf` onto that folder, so a wheel (and `pip install .`) carries every YAML file.
cnnexp/__init__.py finds the configs in either place.
"""

from setuptools import find_namespace_packages, setup

setup(
    # Namespace discovery: hydra_plugins/ is Hydra's namespace package for sweepers (see src/hydra_plugins).
    packages=[*find_namespace_packages("src", include=["cnnexp*", "hydra_plugins*"]), "cnnexp.conf"],
    package_dir={"": "src", "cnnexp.conf": "conf"},
    package_data={"cnnexp.conf": ["*.yaml", "**/*.yaml"]},
)
