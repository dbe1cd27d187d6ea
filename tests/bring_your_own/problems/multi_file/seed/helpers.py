import time


def slow_sum(n):
    time.sleep(0.02)
    return sum(i * i for i in range(n))
