"""engine_builder: the program in the NIMBuild GPU build Job (DESIGN §6).

It is configured only by `NIMBUILD_*` env vars rendered by the hook and answers only through
the result file (the container's termination message). `python -m engine_builder --help`
lists every setting; docs/engine-builder.md explains the backends and the result contract.
"""
