"""The `nimbuild` console script (DESIGN §10): render, fixture and validate, in-process and
from an installed wheel."""
