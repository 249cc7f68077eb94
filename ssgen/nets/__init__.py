"""Every network of ssgen, as plain ``nn.Module``s, one module per architecture family member.

    vae_mlp.py        Encoder, Decoder: the M1 paper's 784-600-600-50 softplus MLPs
    vae_conv.py       ConvEncoder, ConvDecoder: a convolutional M1 VAE
    dcgan.py          DCGANGenerator, DCGANCritic: arch A of Gulrajani et al. 2017, Table 1
    mlp_generator.py  MLPGenerator: Table 1's '4-layer 512-dim ReLU MLP G'
    m2_mlp.py         Classifier, ConditionalEncoder, ConditionalDecoder: M2's networks

An arch YAML (``conf/arch/<name>.yaml``) names its networks by ``_target_``; the LightningModule builds them
with ``build_network``, which is also the gate every checkpoint passes through: only classes defined in a
module of this package are built (a new architecture joins the allow-list by living here), a spec may not
nest further ``_target_``s, and nothing outside ssgen is imported or called. Targets of networks that
lived elsewhere in older versions (``ssgen.models.gan.DCGANGenerator``, ...) are mapped by ``LEGACY_TARGETS``,
so checkpoints written by those versions still load. ``eval_mode`` is the one "eval() for a block, then back"
every model, callback and evaluation uses.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from ssgen.errors import CheckpointError

PACKAGE = __name__  # "ssgen.nets"
PACKAGE_DIR = Path(__file__).resolve().parent

# Where networks lived before they all moved here (checkpoints name them in their hyper-parameters).
LEGACY_TARGETS = {
    "ssgen.models.gan.DCGANGenerator": "ssgen.nets.dcgan.DCGANGenerator",
    "ssgen.models.gan.DCGANCritic": "ssgen.nets.dcgan.DCGANCritic",
    "ssgen.models.gan.MLPGenerator": "ssgen.nets.mlp_generator.MLPGenerator",
    "ssgen.models.m2.Classifier": "ssgen.nets.m2_mlp.Classifier",
    "ssgen.models.m2.ConditionalEncoder": "ssgen.nets.m2_mlp.ConditionalEncoder",
    "ssgen.models.m2.ConditionalDecoder": "ssgen.nets.m2_mlp.ConditionalDecoder",
}


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` and all its submodules in eval mode inside the block; afterwards, also after an exception, each
    submodule is back in its own mode from before.

    Each flag is put back as it was, not ``module.train(mode)`` over the whole tree: the submodules of one module need not
    share a mode (a GAN's generator and critic; M1+M2's frozen M1 networks, always in eval mode), and a ``train``
    override would run its side effects again. Gradients are untouched: combine with ``torch.no_grad()`` where
    only outputs are wanted. Yields ``module``.
    """
    modes = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in modes:
            submodule.training = training


def package_class(target: Any, package: str, package_dir: Path, base: type, what: str) -> type:
    """The class ``target`` (a dotted path) names, if and only if a module file of ``package`` defines it.

    The module is looked up as a file under ``package_dir`` *before* anything is imported, so a name
    outside the package (``subprocess.Popen``, ``os.system``) is refused without importing or calling
    anything. Raises CheckpointError (one line) for anything else: not a string, another package, a module
    that does not exist, a name the module does not define itself, or a class that is not a ``base``.
    """
    if not isinstance(target, str) or not target:
        raise CheckpointError(f"{what} target {target!r} is not a dotted class name")
    module_name, _, class_name = target.rpartition(".")
    parent, _, leaf = module_name.rpartition(".")
    if parent != package or not leaf.isidentifier() or leaf.startswith("_") or not class_name.isidentifier():
        raise CheckpointError(f"{what} target {target!r} is not a class of {package}; only ssgen's own {what}s are built")
    if not (package_dir / f"{leaf}.py").is_file():
        raise CheckpointError(f"{what} target {target!r} names a module that {package} does not have")
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or cls.__module__ != module_name or not issubclass(cls, base):
        raise CheckpointError(f"{what} target {target!r} is not a {base.__name__} defined in {module_name}")
    return cls


def network_class(target: Any) -> type[nn.Module]:
    """The network class of an arch spec's ``_target_`` (old paths via ``LEGACY_TARGETS``); CheckpointError otherwise."""
    target = LEGACY_TARGETS.get(target, target) if isinstance(target, str) else target
    return package_class(target, PACKAGE, PACKAGE_DIR, nn.Module, "network")


def check_network_spec(spec: Any, where: str = "network") -> type[nn.Module]:
    """Check one ``{_target_: ..., **kwargs}`` spec without building it: its class, and no nested ``_target_``."""
    if not isinstance(spec, dict) or "_target_" not in spec:
        raise CheckpointError(f"{where} spec {spec!r} has no _target_")
    cls = network_class(spec["_target_"])
    for key, value in spec.items():
        if key != "_target_" and _holds_target(value):
            raise CheckpointError(f"{where} spec {spec['_target_']} nests a _target_ under {key!r}; "
                                  "network arguments are plain values")
    return cls


def _holds_target(value: Any) -> bool:
    if isinstance(value, dict):
        return "_target_" in value or any(_holds_target(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_target(v) for v in value)
    return False


def build_network(spec: dict[str, Any], **kwargs: Any) -> nn.Module:
    """Build a network from an arch spec ``{_target_: 'ssgen.nets.<module>.<Class>', **arguments}``.

    ``kwargs`` are the arguments the method supplies (``latent_dim``, ``n_classes``, ``image_shape``, ``input_dim``,
    ...: the class count and image shape from its data set's ``ssgen.data.DatasetInfo``) and
    override the spec's. Raises CheckpointError for a target outside this package (see ``package_class``).
    """
    cls = check_network_spec(dict(spec))
    arguments = {key: value for key, value in dict(spec).items() if key != "_target_"}
    return cls(**{**arguments, **kwargs})


def quarter_size(image_shape: tuple[int, int, int], what: str) -> tuple[int, int]:
    """``(H / 4, W / 4)``: the feature map after two stride-2 layers. Raises ValueError unless H, W are multiples of 4."""
    _, height, width = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"{what} halves the image twice: image_shape {tuple(image_shape)} needs H and W multiples of 4")
    return height // 4, width // 4
