"""Sweep job dir names: the overrides a sweep varies come first and survive the cut, so two jobs never differ
only in their hash while constant overrides fill the name."""

from __future__ import annotations

from ssgen.config.files import JOB_NAME_LENGTH, job_name, swept_keys

CONSTANT = ("method.callbacks.quality=null,method.callbacks.best_checkpoint=null,arch.networks.generator.width=8,"
            "arch.networks.critic.width=8")


def test_the_swept_keys_are_read_as_hydras_grammar_reads_them():
    assert swept_keys(["-m", "method=dcgan", "method.lr_generator=1e-4,1e12", "seed=range(3)", "+x=[1,2]"]) == {
        "method.lr_generator", "seed"}
    assert swept_keys(["method=dcgan"]) == set() and swept_keys(["not an override ["]) == set()


def test_swept_overrides_come_first_and_are_kept_when_the_name_is_cut():
    swept = {"method.lr_generator", "seed"}
    names = [job_name(f"{CONSTANT},method.lr_generator={lr},seed={seed}", swept)
             for lr in ("0.0001", "1000000000000.0") for seed in (0, 1)]
    assert all(len(name) <= JOB_NAME_LENGTH for name in names) and len(set(names)) == 4
    assert names[0].startswith("method.lr_generator=0.0001,seed=0") and "~" in names[0]
    assert all(name.split("~")[0].count("seed=") == 1 for name in names)  # what varies is readable in every name
    # without knowing what varies, the shortest are kept: the long swept value is only in the hash
    assert "lr_generator" not in job_name(f"{CONSTANT},method.lr_generator=1000000000000.0,seed=0", set()).split("~")[0]

def test_a_short_name_is_only_reordered():
    assert job_name("method=m1,seed=1", {"seed"}) == "seed=1,method=m1"
    assert job_name("method=m1,seed=1", set()) == "method=m1,seed=1"
    assert job_name("data.root=/a/b,seed=2", {"seed"}) == "seed=2,data.root=-a-b"
