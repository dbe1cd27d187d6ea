import time


def count_primes(n):
    time.sleep(0.01)
    return sum(all(k % d for d in range(2, int(k ** 0.5) + 1)) for k in range(2, n))
