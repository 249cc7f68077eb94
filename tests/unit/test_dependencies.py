"""pyproject.toml's lower bounds: each is at least what the code needs, the installed versions satisfy them, and
every third-party package ssgen imports is declared.

``NEEDS`` is the table behind the bounds: an API (or a property of a release) ssgen relies on, the release it
needs, how that was established, and a check that the installed version still has it. ``how`` is one of

* ``first in X (absent in Y)``: both wheels downloaded (``pip download --no-deps``) and their source compared;
* ``present in X``: the oldest release whose source was checked; the API may be older;
* a release note or package metadata, named.

A bound lowered below a row's release fails here; so does an API that a new release drops.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def parameters(dotted: str) -> set[str]:
    """The parameter names of a callable given as 'module:attribute.path'."""
    module, _, path = dotted.partition(":")
    target = importlib.import_module(module)
    for name in path.split("."):
        target = getattr(target, name)
    return set(inspect.signature(target).parameters)


def has(dotted: str) -> bool:
    module, _, path = dotted.partition(":")
    target = importlib.import_module(module)
    for name in path.split("."):
        if not hasattr(target, name):
            return False
        target = getattr(target, name)
    return True


def logger_connector_property() -> bool:
    from lightning.pytorch.trainer.connectors.logger_connector.logger_connector import _LoggerConnector

    return isinstance(inspect.getattr_static(_LoggerConnector, "should_update_logs"), property)


@dataclass(frozen=True)
class Need:
    distribution: str
    release: str
    what: str
    how: str
    check: Callable[[], bool]


NEEDS = [
    Need("lightning", "2.5.2", "LightningModule.toggled_optimizer (every GAN critic and generator step)",
         "first in 2.5.2 (absent in 2.5.1)", lambda: has("lightning:LightningModule.toggled_optimizer")),
    Need("lightning", "2.5.2", "Strategy.reduce_boolean_decision (a stop agreed by every DDP rank, ssgen.run.stops)",
         "present in 2.5.2", lambda: {"decision", "all"} <= parameters(
             "lightning.pytorch.strategies:ParallelStrategy.reduce_boolean_decision")),
    Need("lightning", "2.5.2", "Trainer.save_checkpoint(weights_only=)", "present in 2.5.2",
         lambda: "weights_only" in parameters("lightning:Trainer.save_checkpoint")),
    Need("lightning", "2.5.2", "seed_everything(workers=, verbose=)", "present in 2.5.2",
         lambda: {"workers", "verbose"} <= parameters("lightning:seed_everything")),
    Need("lightning", "2.5.2", "SIGTERMException, the stop Lightning raises on SIGTERM", "present in 2.5.2",
         lambda: has("lightning.pytorch.utilities.exceptions:SIGTERMException")),
    Need("lightning", "2.5.2", "the logger connector's should_update_logs (ssgen.compat.logger_writes_now)",
         "present in 2.5.2", logger_connector_property),
    Need("torchmetrics", "1.6.1", "FrechetInceptionDistance(feature_extractor_weights_path=) (fid_network=inception)",
         "first in 1.6.1 (absent in 1.6.0)", lambda: "feature_extractor_weights_path" in parameters(
             "torchmetrics.image.fid:FrechetInceptionDistance.__init__")),
    Need("torchmetrics", "1.4.0", "FID and KID over a custom feature module, real statistics kept across reset()",
         "present in 1.4.0", lambda: {"feature", "reset_real_features"} <= parameters(
             "torchmetrics.image.kid:KernelInceptionDistance.__init__")),
    Need("scikit-learn", "1.4.2", "built against numpy 2 (numpy is not capped)",
         "scikit-learn 1.4.2 release notes: 'This release only includes support for numpy 2'",
         lambda: has("sklearn.model_selection:StratifiedGroupKFold")),
    Need("skops", "0.10.0", "skops.io.get_untrusted_types(file=) and load(trusted=[...])", "present in 0.10.0",
         lambda: "file" in parameters("skops.io:get_untrusted_types") and "trusted" in parameters("skops.io:load")),
    Need("graphlearning", "1.7.5", "weightmatrix.knn(knn_data=), ssl.poisson / ssl.laplace (the tests' reference)",
         "present in 1.7.5", lambda: "knn_data" in parameters("graphlearning.weightmatrix:knn") and has("graphlearning.ssl:poisson")),
    Need("annoy", "1.17.3", "AnnoyIndex.set_seed, build(n_jobs=)", "present in 1.17.3",
         lambda: has("annoy:AnnoyIndex.set_seed")),
    Need("scipy", "1.6", "sparse.csr_matrix, diags, identity", "scikit-learn 1.4.2's own floor (scipy>=1.6.0)",
         lambda: has("scipy.sparse:diags") and has("scipy.sparse:identity")),
    Need("safetensors", "0.4.0", "safetensors.torch.save_file(metadata=), load_file, safe_open(framework=)",
         "present in 0.4.0", lambda: "metadata" in parameters("safetensors.torch:save_file")
         and has("safetensors:safe_open")),
    Need("hydra-core", "1.3.1", "BasicSweeper.split_arguments, Callback.on_multirun_end, RunMode (version_base='1.3')",
         "present in 1.3.1 (the bound stays 1.3.2: 1.3.1 was not run)",
         lambda: has("hydra._internal.core_plugins.basic_sweeper:BasicSweeper.split_arguments")
         and has("hydra.experimental.callback:Callback.on_multirun_end") and has("hydra.types:RunMode.MULTIRUN")),
    Need("omegaconf", "2.3.0", "Python 3.11", "package metadata: 2.3.0 is the first to list Python 3.11 (2.2.3: up to "
         "3.10)", lambda: has("omegaconf:OmegaConf.masked_copy")),
    Need("numpy", "1.23.2", "Python 3.11 wheels", "pip download --python-version 3.11: none for 1.23.1, one for 1.23.2",
         lambda: has("numpy:savez_compressed")),
    Need("pyyaml", "5.1", "yaml.safe_load", "omegaconf 2.3's own floor (PyYAML>=5.1.0)", lambda: has("yaml:safe_load")),
    Need("tqdm", "4.57", "tqdm.auto.tqdm(total=, desc=, unit=, disable=, file=)", "lightning 2.5.2's own floor",
         lambda: has("tqdm.auto:tqdm")),
    Need("pillow", "9.1", "Image.Resampling.LANCZOS", "Pillow 9.1.0 release notes (the enums were added there)",
         lambda: has("PIL.Image:Resampling.LANCZOS")),
]


def declared() -> dict[str, Requirement]:
    """Every requirement of [project.dependencies] and the optional extras, by normalised distribution name."""
    project = PYPROJECT["project"]
    lines = [*project["dependencies"], *(line for extra in project["optional-dependencies"].values() for line in extra)]
    requirements: dict[str, Requirement] = {}
    for line in lines:
        requirement = Requirement(line)
        requirements.setdefault(normalise(requirement.name), requirement)
    return requirements


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def lower_bound(requirement: Requirement) -> Version | None:
    bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
    return max(bounds) if bounds else None


def test_every_main_dependency_has_a_lower_bound():
    for line in PYPROJECT["project"]["dependencies"]:
        assert lower_bound(Requirement(line)) is not None, f"{line}: give the version the code needs"


@pytest.mark.parametrize("need", NEEDS, ids=lambda need: f"{need.distribution}-{need.what[:40]}")
def test_each_bound_is_at_least_what_the_code_needs(need):
    requirement = declared()[normalise(need.distribution)]
    bound = lower_bound(requirement)
    assert bound is not None and bound >= Version(need.release), (
        f"pyproject.toml says {requirement}, but {need.what} needs {need.distribution}>={need.release} ({need.how})")


@pytest.mark.parametrize("need", NEEDS, ids=lambda need: f"{need.distribution}-{need.what[:40]}")
def test_the_installed_version_has_each_api(need):
    assert need.check(), f"{need.distribution} {importlib.metadata.version(need.distribution)} lacks {need.what}"


def test_the_installed_versions_satisfy_the_declared_bounds():
    unmet = []
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        installed = importlib.metadata.version(requirement.name)
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(f"{requirement} (installed: {installed})")
    assert not unmet, "installed versions outside pyproject.toml's bounds: " + ", ".join(unmet)


def imported_top_levels(package_dir: Path) -> set[str]:
    names: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_third_party_package_ssgen_imports_is_declared():
    """An import that works only because another dependency pulls the package in is a bound nobody chose."""
    distributions = importlib.metadata.packages_distributions()
    third_party = {name for name in imported_top_levels(ROOT / "ssgen")
                   if name not in sys.stdlib_module_names and name != "ssgen"}
    undeclared = []
    for name in sorted(third_party):
        owners = {normalise(owner) for owner in distributions.get(name, [])}
        if not owners & set(declared()):
            undeclared.append(f"{name} (from {', '.join(sorted(owners)) or 'an uninstalled package'})")
    assert not undeclared, "imported but not in pyproject.toml: " + "; ".join(undeclared)
