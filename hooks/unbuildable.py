"""Why a NIMCache offers nothing to build: the message of NIM_BUILD_NO_BUILDABLE_PROFILE_FOUND.

NIMBuild only makes sense for NIM LLM 1.x, whose `trtllm_buildable` profiles are compiled
when the NIM starts. What else a NIMCache can show, read from its status alone (reference
nim-operator-nimbuild.md §2.1-2.2, trtllm-build.md §2.4):

* `status.type` `native` or `model-free`: the NIM Operator lists no profiles at all;
* no profiles, type unset: the NIMCache cached `all` profiles (upstream leaves the list empty
  then) or selected none;
* profiles of another backend: `llm_engine`/`backend` tag `vllm` or `sglang`, or a NIM LLM
  2.x name `<backend>-<precision>-tp<N>-pp<N>[-lora]`; they run as they are;
* TensorRT-LLM profiles with a `gpu`/`gpu_device` tag: engines prebuilt for those GPUs;
* a profile named in `spec.nimCache.profile` that is absent or one of the above.

Each case says what to do. Pure: NIMCache and wanted profile in, text out. The reason stays
upstream's `NoBuildableProfilesFound` (clients match on it); only the message tells cases apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from hooks.observed import NIMCache, NIMProfile

LIST_LIMIT: Final = 5
NO_PROFILE_TYPES: Final = ("native", "model-free")
OTHER_BACKENDS: Final = {"vllm": "vLLM", "sglang": "SGLang"}
TRTLLM_ENGINES: Final = ("tensorrt_llm", "trtllm", "tensorrt")
# NIM LLM 2.x profile names: `vllm-bf16-tp1-pp1`, `sglang-fp8-tp2-pp1-lora`.
V2_NAME: Final = re.compile(r"^(?P<backend>[a-z][a-z0-9_]*)-[a-z0-9]+-tp\d+-pp\d+(-lora)?$")

BUILD_HINT: Final = (
    "NIMBuild builds only NIM LLM 1.x profiles tagged trtllm_buildable: cache one (NIMCache "
    "spec.source.ngc.model.buildable: true, or its id in spec.source.ngc.model.profiles) and "
    "create a new NIMBuild naming it"
)


def backend(profile: NIMProfile) -> str:
    """The profile's engine, lower-case: `llm_engine`, else `backend`, else a 2.x name's prefix."""
    tags = profile.config
    engine = (tags.get("llm_engine") or tags.get("backend") or "").strip().lower()
    if engine:
        return engine
    match = V2_NAME.fullmatch(profile.name)
    return match.group("backend") if match else ""


def kind(profile: NIMProfile) -> str:
    """buildable | other-backend | prebuilt | not-buildable (else, e.g. a PyTorch runtime one)."""
    if profile.buildable:
        return "buildable"
    engine = backend(profile)
    if engine in OTHER_BACKENDS:
        return "other-backend"
    if engine in TRTLLM_ENGINES and (profile.config.get("gpu") or profile.config.get("gpu_device")):
        return "prebuilt"
    return "not-buildable"


def describe(profile: NIMProfile) -> str:
    """`<name> (<what it is>)`, e.g. `vllm-bf16-tp1-pp1-lora (vLLM, LoRA)`."""
    engine = backend(profile)
    what = {
        "other-backend": OTHER_BACKENDS.get(engine, engine),
        "prebuilt": "TensorRT-LLM engine for "
        + (profile.config.get("gpu") or profile.config.get("gpu_device", "")),
        "not-buildable": engine or "no llm_engine tag",
        "buildable": "trtllm_buildable",
    }[kind(profile)]
    lora = profile.config.get("feat_lora") == "true" or profile.name.endswith("-lora")
    return f"{profile.name} ({what}{', LoRA' if lora else ''})"


def listing(profiles: Sequence[NIMProfile]) -> str:
    shown = ", ".join(describe(p) for p in profiles[:LIST_LIMIT])
    more = len(profiles) - LIST_LIMIT
    return shown + (f" and {more} more" if more > 0 else "")


def what_to_do(kinds: set[str], instead: str, *, several: bool) -> str:
    """What the profile kinds (none buildable) mean, then `instead`: what to build from."""
    if kinds == {"other-backend"}:
        return (
            "such profiles run as they are (NIM LLM 2.x and vLLM/SGLang NIMs have no engine to "
            "build): serve one with a NIMService on this NIMCache. "
            + instead[:1].upper()
            + instead[1:]
        )
    if kinds == {"prebuilt"}:
        built = (
            "their engines are already built for those GPUs: serve one"
            if several
            else "its engine is already built for that GPU: serve it"
        )
        return f"{built} with a NIMService on a matching GPU. To build for another GPU: {instead}"
    return instead


def choose_instead(profiles: Sequence[NIMProfile]) -> str:
    """Name the NIMCache's buildable profiles to pick instead, or say how to get one."""
    buildable = [p.name for p in profiles if p.buildable]
    if not buildable:
        return BUILD_HINT
    return (
        "create a new NIMBuild with spec.nimCache.profile set to a buildable profile of this "
        f"NIMCache: {', '.join(buildable[:LIST_LIMIT])}"
    )


def why_nothing_to_build(cache: NIMCache, wanted: str) -> str:
    """The message when no buildable profile can be chosen from `cache` (`wanted` may be "")."""
    name = cache.metadata.name
    profiles = cache.status.profiles
    if wanted:
        chosen = cache.profile(wanted)
        if chosen is None:
            head = f"Profile {wanted} is not in NIMCache {name}"
            if not profiles:
                return f"{head}, which lists no profiles; " + _empty(cache.status.type, name)
            return f"{head} (it lists {listing(profiles)}); " + choose_instead(profiles)
        return (
            f"Profile {describe(chosen)} of NIMCache {name} is not buildable (its config has no "
            'trtllm_buildable: "true"); '
            + what_to_do({kind(chosen)}, choose_instead(profiles), several=False)
        )
    if not profiles:
        return f"No buildable profiles found: NIMCache {name} lists no profiles; " + _empty(
            cache.status.type, name
        )
    advice = what_to_do({kind(p) for p in profiles}, BUILD_HINT, several=len(profiles) > 1)
    return (
        f"No buildable profiles found in NIMCache {name}: none of its {len(profiles)} "
        f"profile(s) is trtllm_buildable ({listing(profiles)}); " + advice
    )


def _empty(cache_type: str, name: str) -> str:
    if cache_type in NO_PROFILE_TYPES:
        return (
            f"its status.type is {cache_type}: the NIM Operator lists no profiles for a "
            f"{cache_type} NIM, and such a NIM has no TensorRT-LLM engine to build; serve it with "
            f"a NIMService on NIMCache {name}. " + BUILD_HINT
        )
    return (
        "a NIMCache that caches all profiles (spec.source.ngc.model.profiles: [all]) or selects "
        "none leaves status.profiles empty. " + BUILD_HINT
    )
