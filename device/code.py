# CircuitPython runs code.py at every reset: the same apps as main.py.
from main import run

run()
