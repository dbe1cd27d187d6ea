def estimate_pi():
    """Leibniz series, 1000 terms."""
    return 4 * sum((-1) ** k / (2 * k + 1) for k in range(1000))
