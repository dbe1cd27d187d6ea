"""The evolution loop (:mod:`avo.core.evolution`) and the scorer contract (:mod:`avo.core.scoring`).

Empty on purpose: ``avo.core.scoring`` is imported inside the sandbox, where the
evolution loop's dependencies do not exist.
"""
