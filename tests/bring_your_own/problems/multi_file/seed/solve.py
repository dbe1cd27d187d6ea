from helpers import slow_sum


def sum_of_squares(n):
    return slow_sum(n)
