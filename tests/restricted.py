"""The Pod Security "restricted" checker the tests run on every rendered object: the hook's
own (`hooks.podsecurity`), which also checks what a Job customizer returns."""

from hooks.podsecurity import pod_spec_of, violations

__all__ = ["pod_spec_of", "violations"]
