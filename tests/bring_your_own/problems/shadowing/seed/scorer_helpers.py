ORIGIN = "the solution"
