# The apps main.py can run, by name (config.APP).
APPS = ("sine", "motion")


def run(name, **options):
    if name not in APPS:
        raise ValueError("unknown app %r in config.py; choose one of %s" % (name, ", ".join(APPS)))
    module = __import__("tinyml.apps." + name, None, None, ("run",))
    return module.run(**options)
