"""The run's configuration: Hydra composes ``conf/``, the schemas type-check it, the checks refuse what cannot train.

    files.py       conf/ as files: where it is, method, arch and callback YAMLs read without Hydra, sweep job names
    schemas.py     structured configs (a method's, a callback's and the data module's built from their signatures)
    validation.py  validate(cfg): values that type-check but cannot train, refused in one line before anything is made
"""
