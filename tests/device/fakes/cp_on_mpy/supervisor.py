now = [0]


def ticks_ms():
    return now[0]
