"""The words the hook speaks: states, condition types, reasons, keys, labels and env names.

One module so they can be checked against the CRD in one place. States and condition types
keep the NIM Operator's spellings (drop-in compatibility); reasons are CamelCase with no spaces
so they match the CRD pattern `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`.
"""

from typing import Final

# The NIM Operator's API group and version: NIMBuild's and NIMCache's apiVersion.
NIM_API_VERSION: Final = "apps.nvidia.com/v1alpha1"

# --- Metacontroller v2 map keys -------------------------------------------------------------
JOB_KEY: Final = "Job.batch/v1"
NIMCACHE_KEY: Final = f"NIMCache.{NIM_API_VERSION}"
POD_KEY: Final = "Pod.v1"
NIMBUILD_KEY: Final = f"NIMBuild.{NIM_API_VERSION}"  # related, of the NIMCache decorator

# --- status.state ---------------------------------------------------------------------------
PENDING: Final = "Pending"  # waiting on the NIMCache
STARTED: Final = "Started"  # build Job rendered, not seen yet
IN_PROGRESS: Final = "InProgress"  # build Job seen, not finished
READY: Final = "Ready"  # engine built, outputProfile set
FAILED: Final = "Failed"  # nothing more will happen without a change
STATES: Final = (PENDING, STARTED, IN_PROGRESS, READY, FAILED)

# --- status.conditions[].type (upstream spellings) -------------------------------------------
COND_WAIT_FOR_NIM_CACHE: Final = "NIM_BUILD_WAIT_FOR_NIM_CACHE_READY"
COND_RECONCILE_FAILED: Final = "NIM_BUILD_RECONCILE_FAILED"
COND_MULTIPLE_PROFILES: Final = "NIM_BUILD_MULTIPLE_BUILDABLE_PROFILES_FOUND"
COND_SINGLE_PROFILE: Final = "NIM_BUILD_SINGLE_BUILDABLE_PROFILE_FOUND"
COND_NO_PROFILE: Final = "NIM_BUILD_NO_BUILDABLE_PROFILE_FOUND"
COND_POD_CREATED: Final = "NIM_BUILD_ENGINE_BUILD_POD_CREATED"
COND_POD_COMPLETED: Final = "NIM_BUILD_ENGINE_BUILD_POD_COMPLETED"
COND_POD_PENDING: Final = "NIM_BUILD_ENGINE_BUILD_POD_PENDING"
COND_MANIFEST_COMPLETED: Final = "NIM_BUILD_MODEL_MANIFEST_POD_COMPLETED"
COND_NIM_CACHE_NOT_FOUND: Final = "NIM_BUILD_NIM_CACHE_NOT_FOUND"
COND_NIM_CACHE_FAILED: Final = "NIM_BUILD_NIM_CACHE_FAILED"
COND_READY: Final = "Ready"  # summary, so `kubectl wait --for=condition=Ready` works

# Output order of conditions: the order a build moves through them, summary last.
CONDITION_ORDER: Final = (
    COND_NIM_CACHE_NOT_FOUND,
    COND_NIM_CACHE_FAILED,
    COND_WAIT_FOR_NIM_CACHE,
    COND_RECONCILE_FAILED,
    COND_MULTIPLE_PROFILES,
    COND_NO_PROFILE,
    COND_SINGLE_PROFILE,
    COND_POD_CREATED,
    COND_POD_PENDING,
    COND_POD_COMPLETED,
    COND_MANIFEST_COMPLETED,
    COND_READY,
)

# --- status.conditions[].reason ---------------------------------------------------------------
R_NIM_CACHE_NOT_FOUND: Final = "NIMCacheNotFound"  # upstream: "NIMCache not found"
R_NIM_CACHE_FAILED: Final = "NIMCacheFailed"  # upstream: "NIMCache failed"
R_NIM_CACHE_NOT_READY: Final = "NIMCacheNotReady"  # upstream: "NIMCache not ready"
R_INVALID_SPEC: Final = "InvalidSpec"  # spec cannot be parsed
R_INVALID_RESOURCES: Final = "InvalidResources"  # GPU rule cannot be met
R_INVALID_NIM_CACHE: Final = "InvalidNIMCache"  # the NIMCache asks for something we refuse
R_MULTIPLE_PROFILES: Final = "MultipleBuildableProfilesFound"
R_NO_PROFILE: Final = "NoBuildableProfilesFound"
R_PROFILE_FOUND: Final = "BuildableProfileFound"
R_JOB_CREATED: Final = "EngineBuildJobCreated"
R_POD_PENDING: Final = "PodPending"  # no more specific reason from the pod
R_POD_RUNNING: Final = "PodRunning"
R_POD_FAILED: Final = "PodFailed"  # one pod failed, the Job still retries
R_POD_SUCCEEDED: Final = "PodSucceeded"  # pod done, Job not Complete yet
R_BUILD_FINISHED: Final = "BuildFinished"  # pending condition once the build is over
R_JOB_COMPLETE: Final = "JobComplete"
R_JOB_FAILED: Final = "JobFailed"  # the Job gave no reason of its own
R_OUTPUT_PROFILE_READ: Final = "OutputProfileRead"
R_MANIFEST_UNREADABLE: Final = "ManifestUnreadable"
R_ENGINE_BUILT: Final = "EngineBuilt"  # Ready=True
R_RESOLVED: Final = "Resolved"  # an earlier condition that no longer holds (turned False)
NO_LONGER_TRUE: Final = "No longer true: "  # prefix of a resolved condition's message

REASON_PATTERN: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

# --- labels, names, containers ---------------------------------------------------------------
BUILD_POD_LABEL: Final = "nimbuild.apps.nvidia.com/nimbuild-uid"
MANAGED_BY: Final = "nimbuild-controller"
NIM_CONTAINER: Final = "nim-build-ctr"
BUILDER_CONTAINER: Final = "engine-builder"
CACHE_VOLUME: Final = "nim-cache-volume"
SCRATCH_VOLUME: Final = "scratch"
MODEL_STORE: Final = "/model-store"
SCRATCH_DIR: Final = "/scratch"
NIM_PORT: Final = 8000
JOB_SUFFIX: Final = "-engine-build"
# Job labels the hook sets itself (selectors and tools depend on them; settings cannot override).
LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_COMPONENT: Final = "app.kubernetes.io/component"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
JOB_LABEL_KEYS: Final = (
    LABEL_NAME,
    LABEL_INSTANCE,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    BUILD_POD_LABEL,  # on the pod template only
)
NAME_LIMIT: Final = 63

# --- the engine-builder env contract (DESIGN §6); engine_builder reads the same names -------
ENV_BACKEND: Final = "NIMBUILD_BACKEND"
ENV_MODEL_STORE: Final = "NIMBUILD_MODEL_STORE"
ENV_MODEL_NAME: Final = "NIMBUILD_MODEL_NAME"
ENV_INPUT_PROFILE: Final = "NIMBUILD_INPUT_PROFILE"
ENV_NIM_URL: Final = "NIMBUILD_NIM_URL"
ENV_TIMEOUT: Final = "NIMBUILD_TIMEOUT_SECONDS"
ENV_RESULT_FILE: Final = "NIMBUILD_RESULT_FILE"
ENV_TP: Final = "NIMBUILD_TP"
ENV_PP: Final = "NIMBUILD_PP"
ENV_PRECISION: Final = "NIMBUILD_PRECISION"
ENV_MAX_BATCH_SIZE: Final = "NIMBUILD_MAX_BATCH_SIZE"
ENV_MAX_SEQ_LEN: Final = "NIMBUILD_MAX_SEQ_LEN"
ENV_MAX_NUM_TOKENS: Final = "NIMBUILD_MAX_NUM_TOKENS"
ENV_SCRATCH_DIR: Final = "NIMBUILD_SCRATCH_DIR"

BACKEND_NIM: Final = "nim"
BACKEND_TRTLLM: Final = "trtllm"
