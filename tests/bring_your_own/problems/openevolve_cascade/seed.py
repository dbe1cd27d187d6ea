# EVOLVE-BLOCK-START
def place_points():
    """A 4 x 3 grid that leaves room at the edges."""
    return [(0.1 + 0.25 * i, 0.15 + 0.3 * j) for i in range(4) for j in range(3)]
# EVOLVE-BLOCK-END


if __name__ == "__main__":
    print(place_points())
