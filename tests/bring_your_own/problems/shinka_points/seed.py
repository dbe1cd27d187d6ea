import math
import random


# EVOLVE-BLOCK-START
def run_experiment(seed):
    """Evenly spaced over three quarters of the circle."""
    random.seed(seed)
    return [0.75 * 2 * math.pi * i / 10 for i in range(10)]
# EVOLVE-BLOCK-END
