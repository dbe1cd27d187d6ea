def run():
    return 1.0


if __name__ == "__main__":
    print(run())
