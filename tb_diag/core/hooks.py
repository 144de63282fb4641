"""Installs and removes the wrapper around ``optimizer.apply`` that lets probes see each step."""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

# on_apply(grads, variables, apply_update) -> whatever apply_update() returned.
ApplyInterceptor = Callable[[Sequence[Any], Sequence[Any], Callable[[], Any]], Any]

_MISSING = object()


class OptimizerApplyHook:
    """Wraps ``optimizer.apply`` on the instance, so the real training step calls ``on_apply``.

    ``Optimizer.apply_gradients`` goes through ``apply``, so custom ``train_step``s using either are
    seen. The wrapper sees the gradients before the optimizer clips them (``clipnorm`` etc. happen
    inside ``apply``). ``remove`` restores exactly what was there, so the optimizer saves and
    behaves as if the hook had never been installed.
    """

    def __init__(self, optimizer: Any, on_apply: ApplyInterceptor):
        self._optimizer = optimizer
        self._on_apply = on_apply
        self._previous = _MISSING
        self._installed = False

    def install(self) -> None:
        """Shadows the optimizer's ``apply`` with the wrapper (instance attribute)."""
        optimizer = self._optimizer
        self._previous = optimizer.__dict__.get("apply", _MISSING)
        original = optimizer.apply

        # Keep the keyword name: LossScaleOptimizer calls apply(..., trainable_variables=...).
        @functools.wraps(original)
        def apply(grads, trainable_variables=None):
            variables = trainable_variables
            if variables is None:
                # Keras' own fallback when apply() is called without variables.
                variables = getattr(optimizer, "_trainable_variables", None) or []
            return self._on_apply(list(grads), list(variables), lambda: original(grads, trainable_variables))

        optimizer.apply = apply
        self._installed = True

    def remove(self) -> None:
        """Restores the optimizer's ``apply`` as it was before ``install`` (no-op if not installed)."""
        if not self._installed:
            return
        if self._previous is _MISSING:
            self._optimizer.__dict__.pop("apply", None)
        else:
            self._optimizer.apply = self._previous
        self._previous = _MISSING
        self._installed = False


class InstanceMethodPatch:
    """Shadows one method of one object with a wrapper (an instance attribute), and undoes it.

    ``wrapper(original, *args, **kwargs)`` is called in place of the method; ``original`` is the
    method as it was. ``remove`` restores exactly what was there (an instance attribute or none).
    Usable as a context manager for patches that only matter while a step is traced.
    """

    def __init__(self, target: Any, method: str, wrapper: Callable[..., Any]):
        self._target = target
        self._method = method
        self._wrapper = wrapper
        self._previous = _MISSING
        self._installed = False

    def install(self) -> "InstanceMethodPatch":
        """Puts the wrapper in place; returns ``self``."""
        original = getattr(self._target, self._method)
        self._previous = self._target.__dict__.get(self._method, _MISSING)

        @functools.wraps(original)
        def patched(*args: Any, **kwargs: Any) -> Any:
            return self._wrapper(original, *args, **kwargs)

        setattr(self._target, self._method, patched)
        self._installed = True
        return self

    def remove(self) -> None:
        """Restores the method as it was before ``install`` (no-op if not installed)."""
        if not self._installed:
            return
        if self._previous is _MISSING:
            self._target.__dict__.pop(self._method, None)
        else:
            setattr(self._target, self._method, self._previous)
        self._previous = _MISSING
        self._installed = False

    def __enter__(self) -> "InstanceMethodPatch":
        return self.install()

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()
