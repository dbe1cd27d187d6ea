"""Seed solution for the sorting example: a naive bubble sort.

The evolving file must keep this signature: ``sort(values)`` returns a NEW list
holding the same integers in ascending order and leaves ``values`` unchanged.
Bubble sort is deliberately the slowest reasonable starting point, so every
improvement the agent finds shows up as a speedup.
"""


def sort(values: list[int]) -> list[int]:
    """Return a sorted copy of ``values`` by repeatedly swapping adjacent pairs."""
    result = list(values)
    n = len(result)
    for i in range(n):
        for j in range(n - 1 - i):
            if result[j] > result[j + 1]:
                result[j], result[j + 1] = result[j + 1], result[j]
    return result
